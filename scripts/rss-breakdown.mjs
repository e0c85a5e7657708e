#!/usr/bin/env node
// Where a process's RSS is: /proc/PID/smaps summed by kind of mapping, and the pages of its own
// executable that are resident (from /proc/PID/pagemap, root only) by ELF section, with the ICU data
// (symbol icudt*_dat) apart from the rest of .rodata. A measuring aid for the agent's memory (README,
// Agent > Memory); bench-agent.mjs runs it on the agent when BENCH_AGENT_BREAKDOWN is set.
//
//   node scripts/rss-breakdown.mjs PID [--json]
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";

const PAGE = 4096;

function mappings(pid) {
  const out = [];
  let cur;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s*(.*)$/.exec(line);
    if (m) {
      cur = { start: parseInt(m[1], 16), end: parseInt(m[2], 16), perm: m[3], off: parseInt(m[4], 16), name: m[5].trim(), kb: {} };
      out.push(cur);
      continue;
    }
    const f = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (f && cur) cur.kb[f[1]] = Number(f[2]);
  }
  return out;
}

/** ELF sections (file offset ranges) of the executable, and the ICU data's range inside .rodata. */
function sections(exe) {
  const r = spawnSync("readelf", ["-S", "-W", exe], { encoding: "utf8" });
  const secs = [];
  for (const line of r.stdout.split("\n")) {
    const m = /^\s*\[\s*\d+\]\s+(\S*)\s+[A-Z_]+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line);
    if (!m || m[1] === "" || parseInt(m[4], 16) === 0) continue;
    secs.push({ name: m[1], addr: parseInt(m[2], 16), off: parseInt(m[3], 16), size: parseInt(m[4], 16) });
  }
  const sym = spawnSync("readelf", ["--dyn-syms", "-W", exe], { encoding: "utf8", maxBuffer: 256 << 20 });
  const icu = /^\s*\d+: ([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+OBJECT.*\s(icudt\d+_dat)$/m.exec(sym.stdout);
  const parts = [];
  for (const s of secs) {
    if (icu && s.name === ".rodata") {
      const a = parseInt(icu[1], 16);
      const size = Number(icu[2]);
      const off = s.off + (a - s.addr);
      parts.push({ name: ".rodata (before ICU)", off: s.off, size: off - s.off });
      parts.push({ name: `.rodata: ICU data (${icu[3]})`, off, size });
      parts.push({ name: ".rodata (after ICU)", off: off + size, size: s.off + s.size - (off + size) });
    } else parts.push({ name: s.name.startsWith(".note") || s.name === "" ? s.name : s.name, off: s.off, size: s.size });
  }
  return parts;
}

const MiB = 1 << 20;
/**
 * What an unnamed mapping most likely is, from its shape: glibc's thread arenas are 64 MiB-aligned
 * heaps (the rest of the 64 MiB reserved, ---p); thread stacks sit above a guard page; V8 executable
 * memory is rwx; V8's heap pages (256 KiB) and large objects start 256 KiB-aligned.
 */
function anonKind(maps, i) {
  const m = maps[i];
  const next = maps[i + 1];
  const prev = maps[i - 1];
  if (m.perm.includes("x")) return "anonymous: V8 code";
  if (m.start % (64 * MiB) === 0 && next?.start === m.end && next.perm === "---p" && next.end - m.start === 64 * MiB) return "anonymous: malloc arenas of threads";
  if (prev?.end === m.start && prev.perm === "---p" && prev.end - prev.start === 4096) return "anonymous: thread stacks";
  if (m.start % (256 * 1024) === 0) return "anonymous: V8 heap (pages and large objects)";
  return "anonymous: other";
}

export function breakdown(pid) {
  const maps = mappings(pid);
  const exe = fs.readlinkSync(`/proc/${pid}/exe`);
  const kinds = new Map();
  const add = (k, kb) => kinds.set(k, (kinds.get(k) ?? 0) + kb);
  for (const [i, m] of maps.entries()) {
    const rss = m.kb.Rss ?? 0;
    if (rss === 0) continue;
    let kind;
    if (m.name === exe) kind = "executable (file)";
    else if (m.name === "[heap]") kind = "[heap] (malloc brk)";
    else if (m.name.startsWith("[stack")) kind = "[stack]";
    else if (m.name.startsWith("/")) kind = m.name.endsWith(".node") ? "native addons (.node)" : m.name.includes(".so") ? "shared libraries" : `file ${m.name}`;
    else if (m.name.startsWith("[")) kind = m.name;
    else if (i > 0 && maps[i - 1].name === exe && maps[i - 1].end === m.start) kind = "executable: .bss";
    else kind = anonKind(maps, i);
    add(kind, rss);
  }
  const total = maps.reduce((n, m) => n + (m.kb.Rss ?? 0), 0);
  // The executable's resident pages by section.
  const parts = sections(exe).map((p) => ({ ...p, kb: 0 }));
  const fd = fs.openSync(`/proc/${pid}/pagemap`, "r");
  try {
    for (const m of maps) {
      if (m.name !== exe) continue;
      const n = (m.end - m.start) / PAGE;
      const buf = Buffer.alloc(n * 8);
      fs.readSync(fd, buf, 0, buf.length, (m.start / PAGE) * 8);
      for (let i = 0; i < n; i++) {
        if ((buf.readBigUInt64LE(i * 8) >> 63n) === 0n) continue;
        const off = m.off + i * PAGE;
        const p = parts.find((s) => off + PAGE > s.off && off < s.off + s.size);
        if (p) p.kb += 4;
        else add("executable: pages outside any section", 4);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  // Anonymous mappings by size (the large ones are V8's heap spaces and malloc arenas).
  const anon = maps
    .filter((m) => (m.kb.Anonymous ?? 0) > 0)
    .map((m) => ({ name: m.name || "(anon)", sizeKiB: (m.end - m.start) / 1024, anonKiB: m.kb.Anonymous, perm: m.perm }))
    .sort((a, b) => b.anonKiB - a.anonKiB);
  return {
    totalKiB: total,
    kinds: Object.fromEntries([...kinds].sort((a, b) => b[1] - a[1])),
    executable: parts.filter((p) => p.kb > 0).map((p) => ({ name: p.name, residentKiB: p.kb, sizeKiB: Math.round(p.size / 1024) })).sort((a, b) => b.residentKiB - a.residentKiB),
    largestAnon: anon.slice(0, 12),
    anonCount: anon.length,
  };
}

export function formatBreakdown(b) {
  const mib = (k) => (k / 1024).toFixed(1).padStart(6);
  const lines = [`RSS ${mib(b.totalKiB)} MiB`];
  for (const [k, v] of Object.entries(b.kinds)) lines.push(`  ${mib(v)}  ${k}`);
  lines.push("  executable, resident by section (MiB of size):");
  for (const p of b.executable) lines.push(`    ${mib(p.residentKiB)} of ${mib(p.sizeKiB)}  ${p.name}`);
  lines.push(`  largest anonymous (of ${b.anonCount}):`);
  for (const a of b.largestAnon) lines.push(`    ${mib(a.anonKiB)} of ${mib(a.sizeKiB)}  ${a.perm} ${a.name}`);
  return lines.join("\n");
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const pid = process.argv[2];
  const b = breakdown(pid);
  process.stdout.write((process.argv.includes("--json") ? JSON.stringify(b) : formatBreakdown(b)) + "\n");
}
