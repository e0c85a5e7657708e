/**
 * Traffic probes for policy tests: a server (TCP and UDP on the given ports, answering "ok") and a
 * client (many probes at once, each true when answered within the timeout), run with Node inside
 * a namespace by `ip netns exec`. No timing is asserted: a probe's outcome is answered or not.
 */
import { spawn, type ChildProcess } from "node:child_process";

const SERVER = `
const net = require("node:net"), dgram = require("node:dgram");
const ports = JSON.parse(process.argv[1]);
let ready = 0; const need = ports.length * 2;
const up = () => { if (++ready === need) process.stdout.write("ready\\n"); };
for (const p of ports) {
  net.createServer((s) => { s.on("error", () => {}); s.end("ok"); }).listen({ port: p, host: "::", ipv6Only: false }, up);
  const u = dgram.createSocket({ type: "udp6", ipv6Only: false });
  u.on("message", (m, r) => u.send("ok", r.port, r.address));
  u.bind(p, "::", up);
}
`;

const CLIENT = `
const net = require("node:net"), dgram = require("node:dgram");
const { probes, timeoutMs } = JSON.parse(process.argv[1]);
const one = (p) => new Promise((done) => {
  const fin = (v) => { clearTimeout(t); try { s.destroy ? s.destroy() : s.close(); } catch {} done(v); };
  let s; const t = setTimeout(() => fin(false), timeoutMs);
  if (p.proto === "TCP") {
    s = net.connect({ host: p.ip, port: p.port });
    let got = ""; s.on("data", (d) => { got += d; if (got === "ok") fin(true); }); s.on("error", () => fin(false));
  } else {
    s = dgram.createSocket(p.ip.includes(":") ? "udp6" : "udp4");
    s.on("message", (m) => fin(String(m) === "ok")); s.on("error", () => fin(false));
    s.send("hi", p.port, p.ip);
  }
});
Promise.all(probes.map(one)).then((r) => process.stdout.write(JSON.stringify(r)));
`;

export interface Probe {
  ip: string;
  proto: "TCP" | "UDP";
  port: number;
}

/** Start a server in the namespace; resolves once every socket listens. Kill it with .kill(). */
export function startServer(netns: string, ports: number[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", netns, process.execPath, "-e", SERVER, JSON.stringify(ports)], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`probe server in ${netns} exited ${code}: ${err}`)));
  });
}

/** Run probes from the namespace, all at once; one boolean per probe. */
export function runProbes(netns: string, probes: Probe[], timeoutMs = 1500): Promise<boolean[]> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", netns, process.execPath, "-e", CLIENT, JSON.stringify({ probes, timeoutMs })], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as boolean[]) : reject(new Error(`probe client in ${netns} exited ${code}: ${err}`))));
  });
}
