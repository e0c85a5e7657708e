/**
 * The agent image, run with podman exactly as deploy/tether.yaml's container spec says (image,
 * command/args, env, every mount, capabilities, read-only root, resource limits: read from the
 * manifest), with the host network replaced by a "node" network namespace of the test, against the
 * fake API server (test/helpers/fakeApiServerMain.ts: against a fake, not conformance) in another
 * namespace over TLS, with the service account token and CA mounted where Kubernetes mounts them.
 *
 * Checks what a node gets: tether and tether-ipam installed in the mounted bin dir, the conflist
 * from the node's pod CIDRs, routes (tether's protocol) to the other node's pod CIDRs, the nftables
 * table, /healthz and /readyz answering on the node's loopback only, every API request covered by
 * the ClusterRole; then 1,000 nodes (RSS measured, below the manifest's memory limit) and a stop as
 * the kubelet does it (SIGTERM) leaving routes and rules in place.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { RTPROT_TETHER } from "../../src/agent/routes";
import { DIST_BIN, REPO_ROOT } from "../helpers/binary";
import {
  agentContainer,
  findObject,
  grant,
  grantsOf,
  loadManifest,
  memoryBytes,
  podmanRunArgs,
  type AgentContainer,
  type HttpProbe,
} from "../helpers/deployManifest";
import { spawnFakeApiServer, type FakeApiProcess } from "../helpers/fakeApiServerAdmin";
import { createNetns, netnsUnavailable, run, type TestNetns } from "../helpers/netns";

const NODE = "deploy-node-a";
const OTHER = "deploy-node-b";
const FAR = "deploy-node-c";
const NODE_CIDRS = ["10.244.1.0/24", "fd00:10:244:1::/64"];
const OTHER_CIDRS = ["10.244.2.0/24", "fd00:10:244:2::/64"];
const FAR_CIDRS = ["10.244.3.0/24"];
const API_IP = "192.168.77.100";
const API_PORT = 6443;
const SCALE = 1000;

const node = (name: string, cidrs: string[], addrs: string[]): unknown => ({
  metadata: { name },
  spec: { podCIDR: cidrs[0], podCIDRs: cidrs },
  status: { addresses: addrs.map((address) => ({ type: "InternalIP", address })) },
});

/** The k-th node of the scale step: pod CIDR 10.64.0.0/10 split in /24s, InternalIP in 10.200.0.0/16. */
const scaleNode = (k: number): unknown => {
  const cidr = `10.${64 + (k >> 8)}.${k & 255}.0/24`;
  return node(`deploy-scale-${k}`, [cidr], [`10.200.${(k + 2) >> 8}.${(k + 2) & 255}`]);
};

function sh(cmd: string, args: string[], opts: { input?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input ?? "", maxBuffer: 64 << 20 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Poll `probe` until it returns a value; fails with `what` and the last state after `ms`. */
async function waitFor<T>(what: string, probe: () => T | undefined, describeState: () => string, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; ${describeState()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** HTTP status of GET http://host:port/path from inside `ns` (0: no connection). */
function httpStatus(ns: TestNetns, host: string, probe: HttpProbe): number {
  const script =
    "const r=require('http').get({host:process.argv[1],port:+process.argv[2],path:process.argv[3],timeout:3000}," +
    "(res)=>{res.resume();console.log(res.statusCode)});r.on('error',()=>console.log(0));r.on('timeout',()=>r.destroy())";
  const r = sh("ip", ["netns", "exec", ns.name, process.execPath, "-e", script, host, String(probe.port), probe.path]);
  return Number(r.stdout.trim() || "0");
}

function sha256File(p: string): string {
  return createHash("sha256").update(fs.readFileSync(p)).digest("hex");
}

/** Every `subnet` in the tether plugin's IPAM ranges of a conflist. */
function conflistSubnets(text: string): string[] {
  const conf = JSON.parse(text) as { plugins: { type: string; ipam?: { ranges?: { subnet: string }[][] } }[] };
  const plugin = conf.plugins.find((p) => p.type === "tether");
  assert.ok(plugin !== undefined, "the conflist has a tether plugin");
  return (plugin.ipam?.ranges ?? []).flat().map((r) => r.subnet).sort();
}

function hardLimit(flag: "-Hn" | "-Hu"): number {
  return Number(run(["bash", "-c", `ulimit ${flag}`]).trim());
}

/** podman's default rlimits fail here (the sandbox cannot raise them), so does an nproc near the hard limit. */
function ulimits(): string[] {
  const nofile = hardLimit("-Hn");
  const nproc = Math.min(4096, hardLimit("-Hu"));
  return [`nofile=${nofile}:${nofile}`, `nproc=${nproc}:${nproc}`];
}

describe("deploy: the agent image run as the DaemonSet's container spec says", { skip: netnsUnavailable() }, () => {
  const objs = loadManifest();
  const spec: AgentContainer = agentContainer(objs);
  const ds = findObject(objs, "DaemonSet", "tether") as unknown as { spec: { template: { spec: { terminationGracePeriodSeconds?: number } } } };
  const work = fs.mkdtempSync("/tmp/tether-test-deploy-");
  const hostRoot = path.join(work, "node-root");
  const emptyDirRoot = path.join(work, "emptydir");
  const saDir = path.join(work, "serviceaccount");
  const name = `tether-test-deploy-${randomBytes(4).toString("hex")}`;
  const cleanups: (() => void | Promise<void>)[] = [];
  let nodeNs: TestNetns;
  let apiNs: TestNetns;
  let api: FakeApiProcess;
  let containerStarted = false;

  const logs = (): string => (containerStarted ? sh("podman", ["logs", "--tail", "20", name]).stderr : "container not started");
  const routes = (family: 4 | 6): { dst: string; gateway?: string }[] =>
    nodeNs.ipJson<{ dst: string; gateway?: string }[]>([`-${family}`, "route", "show", "proto", String(RTPROT_TETHER)]) ?? [];
  const bin = (p: string): string => path.join(hostRoot, "opt/cni/bin", p);
  const conflistPath = (): string => path.join(hostRoot, "etc/cni/net.d/10-tether.conflist");

  before(async () => {
    assert.ok(sh("podman", ["--version"]).status === 0, "podman is installed (scripts/setup.sh)");
    // The image of this tree, tagged as the manifest names it (scripts/image.sh's default tag); removed
    // again afterwards unless an image of that tag was there before the test.
    const hadImage = sh("podman", ["image", "exists", spec.image]).status === 0;
    const built = sh("bash", [path.join(REPO_ROOT, "scripts/image.sh")]);
    if (!hadImage) cleanups.push(() => void sh("podman", ["rmi", "-f", spec.image]));
    assert.equal(built.status, 0, `scripts/image.sh failed: ${built.stderr}`);
    assert.equal(built.stdout.trim(), spec.image, "image.sh tags the image the manifest names");

    nodeNs = createNetns(undefined, "dep-node");
    apiNs = createNetns(undefined, "dep-api");
    cleanups.push(() => nodeNs.remove(), () => apiNs.remove());
    // The node's uplink to the "control plane": the API server is on a directly connected network,
    // and so is the other node's InternalIP (v4 and v6); 10.200.0.0/16 hosts the scale step's nodes.
    const suffix = randomBytes(3).toString("hex");
    run(["ip", "link", "add", `dn${suffix}`, "netns", nodeNs.name, "type", "veth", "peer", "name", `da${suffix}`, "netns", apiNs.name]);
    nodeNs.exec(["ip", "addr", "add", "192.168.77.1/24", "dev", `dn${suffix}`]);
    nodeNs.exec(["ip", "addr", "add", "fd77::1/64", "dev", `dn${suffix}`, "nodad"]);
    nodeNs.exec(["ip", "addr", "add", "10.200.0.1/16", "dev", `dn${suffix}`]);
    nodeNs.exec(["ip", "link", "set", `dn${suffix}`, "up"]);
    apiNs.exec(["ip", "addr", "add", `${API_IP}/24`, "dev", `da${suffix}`]);
    apiNs.exec(["ip", "link", "set", `da${suffix}`, "up"]);

    api = await spawnFakeApiServer({ listen: `${API_IP}:${API_PORT}`, stateDir: path.join(work, "api"), netns: apiNs.name });
    cleanups.push(() => api.stop());
    await api.admin.upsert("nodes", node(NODE, NODE_CIDRS, ["192.168.77.1", "fd77::1"]));
    await api.admin.upsert("nodes", node(OTHER, OTHER_CIDRS, ["192.168.77.2", "fd77::2"]));
    // Not on a connected network of the node: no route for it.
    await api.admin.upsert("nodes", node(FAR, FAR_CIDRS, ["172.31.9.9"]));

    // What the kubelet would make: hostPath dirs/files (DirectoryOrCreate, FileOrCreate), emptyDirs
    // (0777, as the kubelet creates them), the projected service account volume.
    for (const m of spec.mounts) {
      if (m.hostPath !== undefined) {
        const p = path.join(hostRoot, m.hostPath);
        if (m.hostPathType === "FileOrCreate") {
          fs.mkdirSync(path.dirname(p), { recursive: true });
          fs.writeFileSync(p, "");
        } else {
          fs.mkdirSync(p, { recursive: true });
        }
      } else if (m.emptyDir) {
        const p = path.join(emptyDirRoot, m.name);
        fs.mkdirSync(p, { recursive: true });
        fs.chmodSync(p, 0o777);
      }
    }
    const info = await api.admin.info();
    fs.mkdirSync(saDir, { recursive: true });
    fs.writeFileSync(path.join(saDir, "token"), info.token);
    fs.writeFileSync(path.join(saDir, "ca.crt"), info.caPem);
    fs.writeFileSync(path.join(saDir, "namespace"), "kube-system");

    const args = podmanRunArgs(spec, {
      name,
      netnsPath: nodeNs.path,
      hostRoot,
      emptyDirRoot,
      serviceAccountDir: saDir,
      nodeName: NODE,
      extraEnv: { KUBERNETES_SERVICE_HOST: API_IP, KUBERNETES_SERVICE_PORT: String(API_PORT) },
      ulimits: ulimits(),
    });
    cleanups.push(() => {
      sh("podman", ["rm", "-f", "-t", "0", name]);
    });
    const started = sh("podman", args);
    assert.equal(started.status, 0, `podman ${args.join(" ")}: ${started.stderr}`);
    containerStarted = true;
  });

  after(async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // keep cleaning
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("installs tether and the tether-ipam link into the mounted CNI bin dir", async () => {
    await waitFor("tether in the bin dir", () => (fs.existsSync(bin("tether")) && fs.existsSync(bin("tether-ipam")) ? true : undefined), logs);
    assert.equal(sha256File(bin("tether")), sha256File(DIST_BIN), "the installed plugin is the executable of the image");
    assert.equal(fs.statSync(bin("tether")).mode & 0o777, 0o755);
    assert.equal(fs.readlinkSync(bin("tether-ipam")), "tether");
    assert.deepEqual(fs.readdirSync(bin(".")).sort(), ["tether", "tether-ipam"], "no temporary file left behind");
  });

  it("writes the conflist from the node's pod CIDRs (dual-stack)", async () => {
    const text = await waitFor("the conflist", () => (fs.existsSync(conflistPath()) ? fs.readFileSync(conflistPath(), "utf8") : undefined), logs);
    assert.deepEqual(conflistSubnets(text), [...NODE_CIDRS].sort());
  });

  it("routes the other node's pod CIDRs via its InternalIPs, with tether's protocol, and nothing else", async () => {
    await waitFor("routes of both families", () => (routes(4).length > 0 && routes(6).length > 0 ? true : undefined), () => `${JSON.stringify(routes(4))} ${logs()}`);
    assert.deepEqual(routes(4).map((r) => [r.dst, r.gateway]), [["10.244.2.0/24", "192.168.77.2"]]);
    assert.deepEqual(routes(6).map((r) => [r.dst, r.gateway]), [["fd00:10:244:2::/64", "fd77::2"]]);
  });

  it("keeps its nftables table with every pod CIDR of the cluster as a masquerade exemption", async () => {
    const table = await waitFor(
      "table inet tether-agent",
      () => {
        const r = nodeNs.tryExec(["nft", "list", "table", "inet", "tether-agent"]);
        return r.status === 0 && r.stdout.includes("10.244.2.0/24") ? r.stdout : undefined;
      },
      logs,
    );
    const cluster4 = /set cluster4 \{[^}]*elements = \{([^}]*)\}/.exec(table)?.[1] ?? "";
    for (const c of ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]) assert.ok(cluster4.includes(c), `cluster4 has ${c}: ${cluster4}`);
    assert.match(table, /masquerade/);
  });

  it("answers the probes on the node's loopback, and nowhere else", async () => {
    const { liveness, readiness } = spec.probes;
    await waitFor("/readyz 200", () => (httpStatus(nodeNs, readiness.host ?? "127.0.0.1", readiness) === 200 ? true : undefined), logs);
    assert.equal(httpStatus(nodeNs, liveness.host ?? "127.0.0.1", liveness), 200);
    // The metrics port is not served on the node's network address.
    assert.equal(httpStatus(apiNs, "192.168.77.1", liveness), 0);
  });

  it("asks the API server only what the ClusterRole grants, with the mounted token", async (t) => {
    const { grants } = grantsOf(findObject(objs, "ClusterRole"));
    const used = new Set<string>();
    const requests = await api.admin.requests();
    assert.ok(requests.length >= 2, "at least a list and a watch");
    for (const r of requests) {
      assert.equal(r.authorized, true, `${r.method} ${r.path}: the service account token was accepted`);
      assert.equal(r.method, "GET");
      const m = /^\/(?:api\/v1|apis\/([^/]+)\/v1)\/([a-z]+)$/.exec(r.path);
      assert.ok(m !== null, `a collection path: ${r.path}`);
      const verb = r.query["watch"] === "1" || r.query["watch"] === "true" ? "watch" : "list";
      const g = grant(m[1] ?? "", m[2] ?? "", verb);
      assert.ok(grants.has(g), `${verb} ${r.path} is granted`);
      used.add(g);
    }
    // Granted but not asked for in this run (the policy part watches pods, namespaces, policies).
    const unused = [...grants].filter((g) => !used.has(g));
    if (unused.length > 0) t.diagnostic(`granted, not requested in this run: ${unused.join(", ")}`);
  });

  it(`routes ${SCALE} more nodes within the manifest's memory limit (RSS measured)`, async (t) => {
    const pid = Number(run(["podman", "inspect", "--format", "{{.State.Pid}}", name]).trim());
    const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0") * 1024;
    const before = rss();
    await api.admin.upsertMany("nodes", Array.from({ length: SCALE }, (_, k) => scaleNode(k)));
    await waitFor(`${SCALE + 1} IPv4 routes`, () => (routes(4).length === SCALE + 1 ? true : undefined), () => `${routes(4).length} routes; ${logs()}`);
    const after = rss();
    t.diagnostic(`agent RSS: ${(before / 2 ** 20).toFixed(1)} MiB with 3 nodes, ${(after / 2 ** 20).toFixed(1)} MiB with ${SCALE + 3}`);
    const limit = spec.resources.limits["memory"];
    assert.ok(limit !== undefined);
    assert.ok(after < memoryBytes(limit), `RSS ${after} below the limit ${limit}`);
    assert.equal(run(["podman", "inspect", "--format", "{{.State.Status}}", name]).trim(), "running");
  });

  it("`kubectl exec ds/tether -- tether ipam list` reads the node's IPAM store through the read-only mount", () => {
    // A reservation as the plugin on the host writes it (host-local format: container id, ifname).
    const net = path.join(hostRoot, "var/lib/cni/networks/tether");
    fs.mkdirSync(net, { recursive: true });
    fs.writeFileSync(path.join(net, "10.244.1.5"), "deployctr1\r\neth0");
    const r = sh("podman", ["exec", name, "tether", "ipam", "list", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { network: string; address: string; containerId: string }[];
    assert.deepEqual(rows.map((x) => [x.network, x.address, x.containerId]), [["tether", "10.244.1.5", "deployctr1"]]);
  });

  it("the image also runs as a non-root user: the natives unpack into its sticky /tmp", () => {
    const other = `${name}-nobody`;
    try {
      // doctor reads the links of its (podman-made, empty) namespace through netlink: the native
      // must load. Its nft step fails without root; that is not what is checked here.
      const r = sh("podman", ["run", "--name", other, "--network", "none", "--user", "65534:65534", ...ulimits().flatMap((u) => ["--ulimit", u]), "--entrypoint", "/usr/local/bin/tether", spec.image, "doctor", "--json"]);
      assert.doesNotMatch(r.stderr, /cannot load native/, r.stderr);
      const diff = run(["podman", "diff", other]);
      assert.match(diff, /^A \/tmp\/tether-65534\/koffi-[0-9a-f]{64}\.node$/m, diff);
    } finally {
      sh("podman", ["rm", "-f", other]);
    }
  });

  it("stopped as the kubelet stops it (SIGTERM, grace period of the manifest), leaves routes and rules", async () => {
    const grace = ds.spec.template.spec.terminationGracePeriodSeconds ?? 30;
    const routesBefore = routes(4).length;
    const stopped = sh("podman", ["stop", "-t", String(grace), name]);
    assert.equal(stopped.status, 0, stopped.stderr);
    // Exit 0 (or 143 for a default SIGTERM death) within the grace period, not a SIGKILL (137).
    const code = Number(run(["podman", "inspect", "--format", "{{.State.ExitCode}}", name]).trim());
    assert.ok(code === 0 || code === 143, `exit code ${code} after SIGTERM: ${logs()}`);
    assert.equal(routes(4).length, routesBefore);
    assert.equal(nodeNs.tryExec(["nft", "list", "table", "inet", "tether-agent"]).status, 0);
    assert.ok(fs.existsSync(conflistPath()), "the conflist stays: pods still start while the agent restarts");
  });
});
