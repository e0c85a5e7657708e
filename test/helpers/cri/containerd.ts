/**
 * A private containerd for CRI tests, on a "node" of its own:
 * - a network namespace (the node; containerd runs CNI plugins in its own network namespace, so it
 *   never runs in the root one) with an address of its own (where host ports are published);
 * - a private mount namespace, held by a `sleep` process, with tmpfs over /run/containerd (the shims'
 *   sockets) and /var/lib/cni (libcni's result cache), so nothing of it shows outside; containerd is
 *   started (and restarted) inside it with nsenter, so pod namespaces mounted under its state dir
 *   outlive a containerd restart as they do on a node;
 * - its own root, state, sockets, CNI bin dir (tether, the tether-ipam link, Debian's plugins) and
 *   CNI conf dir under a temporary directory.
 * `destroy()` kills what it started (containerd, the holder, and every process in the holder's mount
 * namespace or below them: shims, pause and app containers), then removes the namespace and files.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNetns, type TestNetns } from "../netns";
import { setTimeout as sleep } from "node:timers/promises";
import { CriClient } from "./client";
import { APP_IMAGE, PAUSE_IMAGE, buildImages } from "./images";

export const DEBIAN_CNI_DIR = "/usr/lib/cni";
const PRIVATE_DIRS = ["/run/containerd", "/var/lib/cni"];
/** The holder and containerd die with the test process, even when it is killed (not the shims: they detach). */
const DIE_WITH_US = ["--pdeathsig", "KILL"];

export interface CriNodeOptions {
  label: string;
  /** Executable to install as BIN/tether (and the tether-ipam link). */
  tether: string;
  /** Executable for BIN/tether-ipam (default: a link to BIN/tether). */
  tetherIpam?: string;
  /** Debian plugins linked into the bin dir. */
  plugins?: string[];
  /** The node's own address (CIDR) on a veth link. */
  nodeAddress?: string;
}

/** Why containerd cannot run here at all, or undefined. */
export function containerdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root";
  for (const cmd of ["containerd", "ctr", "runc", "nsenter", "unshare", "setpriv"]) {
    if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) return `${cmd} not installed (scripts/setup.sh installs containerd, runc)`;
  }
  return undefined;
}

function containerdConfig(base: string, snapshotter: string): string {
  return `version = 2
root = "${base}/root"
state = "${base}/state"
plugin_dir = ""
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "${base}/containerd.sock"

[ttrpc]
  address = "${base}/containerd.sock.ttrpc"

[debug]
  address = "${base}/debug.sock"
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "${base}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${snapshotter}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${base}/bin"
    conf_dir = "${base}/net.d"
    max_conf_num = 1
`;
}

/** Pids of every process below `roots` (by parent pid), roots included. */
function withDescendants(roots: Set<number>): Set<number> {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(e), ppid);
    } catch {
      // gone
    }
  }
  const out = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!out.has(pid) && out.has(ppid)) {
        out.add(pid);
        grew = true;
      }
    }
  }
  return out;
}

/** The mount namespace of this process or its nearest ancestor where cgroups are mounted (undefined: ours). */
function mountNsWithCgroups(): string | undefined {
  let pid = process.pid;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    try {
      if (/ - cgroup2? /.test(readFileSync(`/proc/${pid}/mountinfo`, "utf8"))) return pid === process.pid ? undefined : `/proc/${pid}/ns/mnt`;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      break;
    }
  }
  throw new Error("no cgroup mounts in this mount namespace or an ancestor's: runc cannot run containers");
}

function mountNsOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

export class CriNode {
  readonly base: string;
  readonly node: TestNetns;
  readonly binDir: string;
  readonly confDir: string;
  readonly socket: string;
  readonly snapshotter = "native";
  client: CriClient;
  private holder: ChildProcess | undefined;
  private holderMntNs: string | undefined;
  private containerd: ChildProcess | undefined;
  private readonly logFile: string;
  /** runc's parent cgroups (k8s.io, containerd's namespace) that were not there before us. */
  private newCgroupDirs: string[] = [];

  constructor(opts: CriNodeOptions) {
    this.base = mkdtempSync(join(tmpdir(), `tether-cri-${opts.label}-`));
    this.binDir = join(this.base, "bin");
    this.confDir = join(this.base, "net.d");
    this.socket = join(this.base, "containerd.sock");
    this.logFile = join(this.base, "containerd.log");
    for (const d of [this.binDir, this.confDir, join(this.base, "opt"), join(this.base, "logs")]) mkdirSync(d, { recursive: true });
    symlinkSync(opts.tether, join(this.binDir, "tether"));
    symlinkSync(opts.tetherIpam ?? "tether", join(this.binDir, "tether-ipam"));
    for (const p of opts.plugins ?? ["loopback", "portmap"]) symlinkSync(join(DEBIAN_CNI_DIR, p), join(this.binDir, p));
    writeFileSync(join(this.base, "config.toml"), containerdConfig(this.base, this.snapshotter));
    this.node = createNetns(undefined, `cri-${opts.label}`);
    try {
      // no dummy links on every kernel: a veth pair whose both ends stay in the node
      this.node.exec(["ip", "link", "add", "node0", "type", "veth", "peer", "name", "node0p"]);
      this.node.exec(["ip", "addr", "add", opts.nodeAddress ?? "192.168.224.1/24", "dev", "node0"]);
      this.node.exec(["ip", "link", "set", "node0p", "up"]);
      this.node.exec(["ip", "link", "set", "node0", "up"]);
    } catch (e) {
      this.node.remove();
      rmSync(this.base, { recursive: true, force: true });
      throw e;
    }
    this.client = new CriClient(this.socket);
  }

  /** Path of a file as the node's mount namespace sees it (for PRIVATE_DIRS). */
  privatePath(path: string): string {
    if (this.holder?.pid === undefined) throw new Error("the node's mount namespace is not up");
    return `/proc/${this.holder.pid}/root${path}`;
  }

  /** Holder of the mount namespace, then containerd; resolves when the CRI answers. */
  async start(): Promise<void> {
    if (this.holder === undefined) {
      this.newCgroupDirs = cgroupDirs().filter((d) => !existsSync(d));
      await this.startHolder();
    }
    await this.startContainerd();
  }

  private async startHolder(): Promise<void> {
    for (const d of PRIVATE_DIRS) mkdirSync(d, { recursive: true });
    const mounts = PRIVATE_DIRS.map((d) => `mount -t tmpfs -o mode=0755 tether-cri ${d}`).join(" && ");
    // nsenter, not `ip netns exec`: that one mounts a fresh /sys, hiding the cgroup mounts runc needs;
    // a caller inside `ip netns exec` (the bench) lends the mount namespace of an ancestor that has them.
    const from = mountNsWithCgroups();
    const holder = spawn("setpriv", [...DIE_WITH_US, "nsenter", ...(from === undefined ? [] : [`--mount=${from}`]), `--net=${this.node.path}`, "unshare", "-m", "--propagation", "private", "sh", "-c", `${mounts} && echo ready && exec sleep infinity`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.holder = holder;
    await new Promise<void>((resolve, reject) => {
      holder.stdout?.on("data", (b: Buffer) => {
        if (b.toString().includes("ready")) resolve();
      });
      holder.on("exit", (code) => reject(new Error(`mount namespace holder exited ${code}`)));
    });
    this.holderMntNs = mountNsOf(holder.pid ?? -1);
    if (this.holderMntNs === undefined || this.holderMntNs === mountNsOf(process.pid)) throw new Error("the node has no mount namespace of its own");
  }

  private async startContainerd(): Promise<void> {
    const fd = openSync(this.logFile, "a");
    const env = { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin" };
    this.containerd = spawn("setpriv", [...DIE_WITH_US, "nsenter", "-t", String(this.holder?.pid), "-m", "-n", "containerd", "--config", join(this.base, "config.toml")], { stdio: ["ignore", fd, fd], env });
    closeSync(fd);
    const exited = new Promise<never>((_, reject) => this.containerd?.once("exit", (code) => reject(new Error(`containerd exited ${code}: ${this.logTail()}`))));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (existsSync(this.socket)) {
        const ok = await Promise.race([this.client.version(2000).then(() => true, () => false), exited]);
        if (ok) return;
      }
      if (Date.now() > deadline) throw new Error(`containerd did not answer within 60 s: ${this.logTail()}`);
      await Promise.race([sleep(200), exited]);
    }
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, "utf8").trim().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Kills containerd alone (shims and pods keep running, as in a containerd upgrade). */
  async stopContainerd(): Promise<void> {
    const c = this.containerd;
    if (c?.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const done = new Promise<void>((resolve) => c.once("exit", () => resolve()));
    c.kill("SIGTERM");
    await Promise.race([done, sleep(15_000)]);
    if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGKILL");
      await done;
    }
    this.client.close();
    this.client = new CriClient(this.socket);
  }

  async restartContainerd(): Promise<void> {
    await this.stopContainerd();
    await this.start();
  }

  /** Builds the pause and app images in `work` and imports them into the k8s.io namespace. */
  importImages(work: string): void {
    const images = buildImages(work);
    for (const tarball of [images.pause, images.app]) {
      const r = spawnSync(
        "ctr",
        ["--address", this.socket, "-n", "k8s.io", "images", "import", "--snapshotter", this.snapshotter, tarball],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(`ctr images import ${tarball}: ${r.stderr || r.error?.message}`);
    }
    const list = spawnSync("ctr", ["--address", this.socket, "-n", "k8s.io", "images", "ls", "-q"], { encoding: "utf8" }).stdout;
    for (const img of [PAUSE_IMAGE, APP_IMAGE]) if (!list.includes(img)) throw new Error(`image ${img} not imported: ${list}`);
  }

  writeConflist(name: string, conflist: unknown): void {
    for (const f of readdirSync(this.confDir)) rmSync(join(this.confDir, f));
    const tmp = join(this.confDir, `.${name}.tmp`);
    writeFileSync(tmp, JSON.stringify(conflist, null, 2));
    renameSync(tmp, join(this.confDir, name)); // whole, as containerd's watcher should see it
  }

  /** Every process this node started: containerd, the holder, anything in its mount namespace, and below. */
  private processes(): Set<number> {
    const roots = new Set<number>();
    for (const p of [this.holder, this.containerd]) if (p?.pid !== undefined) roots.add(p.pid);
    if (this.holderMntNs !== undefined) {
      for (const e of readdirSync("/proc")) {
        if (/^\d+$/.test(e) && mountNsOf(Number(e)) === this.holderMntNs) roots.add(Number(e));
      }
    }
    return withDescendants(roots);
  }

  async destroy(): Promise<void> {
    this.client.close();
    for (let round = 0; round < 5; round++) {
      const pids = [...this.processes()].filter((p) => p !== process.pid && alive(p));
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      const deadline = Date.now() + 10_000;
      while (pids.some(alive) && Date.now() < deadline) await sleep(100);
    }
    this.node.remove();
    for (const d of this.newCgroupDirs) {
      try {
        rmdirSync(d); // only when empty: another containerd may be using it
      } catch {
        // busy or gone
      }
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** runc's parent cgroup of containerd's k8s.io namespace in each cgroup v1 hierarchy (or v2). */
function cgroupDirs(): string[] {
  try {
    const root = "/sys/fs/cgroup";
    if (existsSync(join(root, "cgroup.controllers"))) return [join(root, "k8s.io")];
    return readdirSync(root).map((c) => join(root, c, "k8s.io"));
  } catch {
    return [];
  }
}

/** A short random id (pod uids, names). */
export const rid = (): string => randomBytes(4).toString("hex");
