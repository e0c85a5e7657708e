/**
 * The fake API server as a process, so it can run inside a test's network namespace:
 *   node build/test/helpers/fakeApiServerMain.js --listen IP:PORT --state-dir D [--token T] [--bookmark-ms N] [--gone-as event|status]
 * Writes into D: ca.crt, token, url, kubeconfig (token file D/token), tls.json and state.json (reused
 * when D already has them: a restart keeps its CA, token, objects and resourceVersion counter), and
 * serves the admin endpoint on the unix socket D/admin.sock (see fakeApiServerAdmin.ts). Prints
 * "ready URL" on stdout once both listen. SIGTERM/SIGINT stop it.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { fakeKubeconfig, KINDS, makeFakeTls, startFakeApiServer, type FakeApi, type FakeApiOptions, type FakeApiState, type FakeTls, type ResourceKind } from "./fakeApiServer";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function writeAtomic(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.tmp${process.pid}`;
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function isKind(k: unknown): k is ResourceKind {
  return typeof k === "string" && (KINDS as readonly string[]).includes(k);
}

async function main(): Promise<void> {
  const listen = arg("--listen") ?? "127.0.0.1:0";
  const dir = arg("--state-dir");
  if (!dir) throw new Error("--state-dir D is required");
  const m = listen.match(/^\[?([^\]]*?)\]?:(\d+)$/);
  if (!m) throw new Error(`--listen ${listen}: expected IP:PORT`);
  const host = m[1]!;
  const port = Number(m[2]);
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string): string => path.join(dir, n);

  const tls = readJson<FakeTls>(f("tls.json")) ?? makeFakeTls([host]);
  writeAtomic(f("tls.json"), JSON.stringify(tls), 0o600);
  const token = arg("--token") ?? (fs.existsSync(f("token")) ? fs.readFileSync(f("token"), "utf8").trim() : undefined);
  const state = readJson<FakeApiState>(f("state.json"));

  let api: FakeApi | undefined;
  let persistPending = false;
  const persist = (): void => {
    if (!api) return;
    writeAtomic(f("state.json"), JSON.stringify(api.state()));
  };
  const opts: FakeApiOptions = {
    host,
    port,
    tls,
    onMutate: () => {
      // Coalesced: a batch of upserts is written once, before the admin request that made it answers.
      if (persistPending) return;
      persistPending = true;
      queueMicrotask(() => {
        persistPending = false;
        persist();
      });
    },
  };
  if (token) opts.token = token;
  if (state) opts.state = state;
  const bm = arg("--bookmark-ms");
  if (bm !== undefined) opts.bookmarkIntervalMs = Number(bm);
  const goneAs = arg("--gone-as");
  if (goneAs === "event" || goneAs === "status") opts.goneAs = goneAs;
  api = await startFakeApiServer(opts);
  const fake = api;
  persist();
  writeAtomic(f("ca.crt"), fake.caPem);
  writeAtomic(f("token"), fake.token, 0o600);
  writeAtomic(f("url"), fake.url);
  writeAtomic(f("kubeconfig"), fakeKubeconfig(fake, { tokenFile: f("token") }), 0o600);

  const sock = f("admin.sock");
  fs.rmSync(sock, { force: true });
  const admin = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const reply = (code: number, body: unknown): void => {
        const text = JSON.stringify(body ?? null);
        res.writeHead(code, { "Content-Type": "application/json" });
        res.end(text);
      };
      try {
        const url = new URL(req.url ?? "/", "http://admin");
        const body = parts.length ? (JSON.parse(Buffer.concat(parts).toString("utf8")) as Record<string, unknown>) : {};
        const kind = body["kind"] ?? url.searchParams.get("kind");
        const needKind = (): ResourceKind => {
          if (!isKind(kind)) throw new Error(`kind: one of ${KINDS.join(", ")}`);
          return kind;
        };
        switch (`${req.method} ${url.pathname}`) {
          case "POST /upsert": {
            const k = needKind();
            const objs = Array.isArray(body["objects"]) ? (body["objects"] as unknown[]) : [body["object"]];
            const rvs = objs.map((o) => fake.upsert(k, o));
            persist();
            return reply(200, { resourceVersion: rvs[rvs.length - 1] });
          }
          case "POST /remove": {
            const k = needKind();
            const keys = Array.isArray(body["keys"]) ? (body["keys"] as string[]) : [String(body["key"])];
            const removed = keys.map((key) => fake.remove(k, key));
            persist();
            return reply(200, { removed: removed.every(Boolean) });
          }
          case "GET /objects":
            return reply(200, fake.objects(needKind()));
          case "POST /compact":
            fake.compact();
            return reply(200, {});
          case "POST /closeWatches":
            fake.closeWatches();
            return reply(200, {});
          case "POST /watchError":
            fake.watchError(Number(body["code"] ?? 500), typeof body["message"] === "string" ? body["message"] : undefined);
            return reply(200, {});
          case "POST /breakWatches":
            fake.breakWatches();
            return reply(200, {});
          case "GET /requests":
            return reply(200, fake.requests);
          case "POST /requests/clear":
            fake.requests.length = 0;
            return reply(200, {});
          case "POST /token":
            fake.setToken(String(body["token"]));
            writeAtomic(f("token"), fake.token, 0o600);
            return reply(200, {});
          case "POST /failNext":
            fake.failNext(Number(body["count"] ?? 1), Number(body["status"] ?? 500));
            return reply(200, {});
          case "POST /bookmarks":
            fake.sendBookmarks();
            return reply(200, {});
          case "GET /info":
            return reply(200, { url: fake.url, caPem: fake.caPem, token: fake.token, resourceVersion: fake.resourceVersion(), watches: fake.watchCount(isKind(kind) ? kind : undefined) });
          case "POST /stop":
            reply(200, {});
            void shutdown();
            return;
          default:
            return reply(404, { error: `no admin operation ${req.method} ${url.pathname}` });
        }
      } catch (e) {
        reply(400, { error: (e as Error).message });
      }
    });
  });
  await new Promise<void>((resolve) => admin.listen(sock, resolve));

  let stopping = false;
  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    persist();
    admin.close();
    await fake.stop();
    fs.rmSync(sock, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  process.stdout.write(`ready ${fake.url}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`fakeApiServerMain: ${(e as Error).message}\n`);
  process.exit(1);
});
