/**
 * Driving the fake API server's process form (fakeApiServerMain.ts): spawn it (optionally inside a
 * network namespace) and call its admin operations over D/admin.sock.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { FakeRequest, ResourceKind } from "./fakeApiServer";

const MAIN = path.join(__dirname, "fakeApiServerMain.js");

export interface FakeApiInfo {
  url: string;
  caPem: string;
  token: string;
  resourceVersion: string;
  watches: number;
}

export class FakeApiAdmin {
  constructor(readonly stateDir: string) {}

  get socket(): string {
    return path.join(this.stateDir, "admin.sock");
  }
  /** A kubeconfig for the fake whose token file the fake rewrites on setToken. */
  get kubeconfig(): string {
    return path.join(this.stateDir, "kubeconfig");
  }

  private call<T>(method: "GET" | "POST", p: string, body?: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      // agent: false: a fresh connection per call. Node's default agent keeps connections alive, and
      // reusing one the server has just closed as idle (after 5 s) fails the call with EPIPE.
      const req = http.request({ socketPath: this.socket, method, path: p, agent: false, headers: text ? { "Content-Type": "application/json" } : {} }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => {
          const out = Buffer.concat(parts).toString("utf8");
          if (res.statusCode !== 200) reject(new Error(`fake API admin ${method} ${p}: ${res.statusCode} ${out}`));
          else resolve(JSON.parse(out) as T);
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(text);
    });
  }

  async upsert(kind: ResourceKind, obj: unknown): Promise<string> {
    return (await this.call<{ resourceVersion: string }>("POST", "/upsert", { kind, object: obj })).resourceVersion;
  }
  async upsertMany(kind: ResourceKind, objects: unknown[]): Promise<string> {
    return (await this.call<{ resourceVersion: string }>("POST", "/upsert", { kind, objects })).resourceVersion;
  }
  async remove(kind: ResourceKind, key: string): Promise<boolean> {
    return (await this.call<{ removed: boolean }>("POST", "/remove", { kind, key })).removed;
  }
  objects(kind: ResourceKind): Promise<unknown[]> {
    return this.call("GET", `/objects?kind=${kind}`);
  }
  async compact(): Promise<void> {
    await this.call("POST", "/compact", {});
  }
  async closeWatches(): Promise<void> {
    await this.call("POST", "/closeWatches", {});
  }
  async watchError(code: number, message?: string): Promise<void> {
    await this.call("POST", "/watchError", { code, message });
  }
  async breakWatches(): Promise<void> {
    await this.call("POST", "/breakWatches", {});
  }
  requests(): Promise<FakeRequest[]> {
    return this.call("GET", "/requests");
  }
  async clearRequests(): Promise<void> {
    await this.call("POST", "/requests/clear", {});
  }
  async setToken(token: string): Promise<void> {
    await this.call("POST", "/token", { token });
  }
  async failNext(count: number, status = 500): Promise<void> {
    await this.call("POST", "/failNext", { count, status });
  }
  async sendBookmarks(): Promise<void> {
    await this.call("POST", "/bookmarks", {});
  }
  info(kind?: ResourceKind): Promise<FakeApiInfo> {
    return this.call("GET", `/info${kind ? `?kind=${kind}` : ""}`);
  }
  async stop(): Promise<void> {
    await this.call("POST", "/stop", {});
  }
}

export interface FakeApiProcess {
  admin: FakeApiAdmin;
  url: string;
  child: ChildProcess;
  /** SIGTERM and wait for exit (state stays in the state dir, for a restart). */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/** Spawns fakeApiServerMain (in `netns` via `ip netns exec` when given) and waits for "ready". */
export async function spawnFakeApiServer(opts: { listen: string; stateDir: string; netns?: string; token?: string; bookmarkMs?: number; goneAs?: "event" | "status" }): Promise<FakeApiProcess> {
  fs.mkdirSync(opts.stateDir, { recursive: true });
  const args = [MAIN, "--listen", opts.listen, "--state-dir", opts.stateDir];
  if (opts.token) args.push("--token", opts.token);
  if (opts.bookmarkMs !== undefined) args.push("--bookmark-ms", String(opts.bookmarkMs));
  if (opts.goneAs) args.push("--gone-as", opts.goneAs);
  const [cmd, argv] = opts.netns ? ["ip", ["netns", "exec", opts.netns, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(cmd, argv as string[], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`fake API server not ready within 30 s: ${stderr}`));
    }, 30_000);
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = out.match(/^ready (\S+)\n/m);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`fake API server exited (${code}) before ready: ${stderr}`));
    });
  });
  const wait = async (sig: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return { admin: new FakeApiAdmin(opts.stateDir), url, child, stop: () => wait("SIGTERM"), kill: () => wait("SIGKILL") };
}
