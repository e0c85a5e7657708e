/**
 * Kubernetes' own path: kubelet asks the runtime over the CRI, containerd's CRI plugin runs the first
 * conflist of its conf dir through libcni. A private containerd (Debian's, libcni 1.1: it refuses
 * 1.1.0 results) on a node namespace of its own (test/helpers/cri), driven by a CRI client as kubelet
 * drives it, with the shipped conflists as they are (conf/k8s-bridge.conflist and conf/k8s-ptp.conflist,
 * tether + portmap; conf/10-tether.conflist, what install.sh writes), dual-stack:
 * - Status: NetworkReady false without a conflist, true with tether's;
 * - two pods with host ports: an IPv4 and an IPv6 address each (PodSandboxStatus), different; pod to
 *   pod and node to pod ping; the node's host port reaches the pod; ExecSync shows eth0's addresses;
 * - kubelet's CNI_ARGS and runtimeConfig keys tether does not use are accepted (libcni's cache and a
 *   recording wrapper in the bin dir show what was sent);
 * - containerd restarted while pods run: they keep their network, and stopping them still cleans up;
 * - StopPodSandbox (DEL with the netns) then RemovePodSandbox (DEL with an empty CNI_NETNS): nothing
 *   of the pod is left (links, addresses, routes, reservations, rules, attachment records);
 * - the same pod run again gets a working network.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { ruleComment } from "../../src/firewall/key";
import { REPO_ROOT, tetherCommand } from "../helpers/binary";
import type { PodSpec } from "../helpers/cri/client";
import { CriNode, DEBIAN_CNI_DIR, containerdUnavailable, rid } from "../helpers/cri/containerd";
import { APP_IMAGE, imagesUnavailable } from "../helpers/cri/images";

const PLUGINS = ["loopback", "portmap"];
const missingPlugins = PLUGINS.filter((p) => !existsSync(join(DEBIAN_CNI_DIR, p)));
const skip =
  containerdUnavailable() ?? imagesUnavailable() ?? (missingPlugins.length > 0 ? `reference plugins missing: ${missingPlugins.join(", ")}` : undefined);
if (skip !== undefined) console.error(`cri.test: skipped: ${skip}`);

const NODE_IP = "192.168.224.1";
const CONTAINER_PORT = 8080;
const ANNOTATIONS = { "kubernetes.io/ingress-bandwidth": "10M", "example.com/note": "kept by the runtime" };

interface Conflist {
  cniVersion: string;
  cniVersions?: string[];
  name: string;
  plugins: Record<string, unknown>[];
}

/** The executable for the bin dir: dist/tether, or a wrapper around the compiled main. */
function tetherExecutable(dir: string): string {
  const t = tetherCommand();
  if (t.args.length === 0) return t.cmd;
  const wrapper = join(dir, "tether-wrapper");
  writeFileSync(wrapper, `#!/bin/sh\ncase "$0" in *tether-ipam) export TETHER_AS=tether-ipam ;; esac\nexec ${[t.cmd, ...t.args].map((a) => `'${a}'`).join(" ")} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}

/**
 * BIN/tether for the test: records each call (command, CNI_NETNS, container id, stdin) in `log`,
 * then runs the real one with the same stdin.
 */
function recordingTether(dir: string, real: string, log: string): string {
  const wrapper = join(dir, "tether-recording");
  writeFileSync(
    wrapper,
    `#!/bin/sh
in=$(cat)
f="${log}/$(date +%s%N)-$$.json"
printf '%s' "$in" > "$f.stdin"
printf '{"command":"%s","netns":"%s","containerId":"%s","args":"%s"}' "$CNI_COMMAND" "$CNI_NETNS" "$CNI_CONTAINERID" "$CNI_ARGS" > "$f"
printf '%s' "$in" | exec '${real}' "$@"
`,
  );
  chmodSync(wrapper, 0o755);
  return wrapper;
}

interface Call {
  command: string;
  netns: string;
  containerId: string;
  args: string;
  stdin: Record<string, unknown>;
}

function calls(log: string, containerId: string): Call[] {
  return readdirSync(log)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({ ...(JSON.parse(readFileSync(join(log, f), "utf8")) as Omit<Call, "stdin">), stdin: JSON.parse(readFileSync(join(log, `${f}.stdin`), "utf8")) as Record<string, unknown> }))
    .filter((c) => c.containerId === containerId);
}

/**
 * A shipped conflist, unchanged (its store is the default /var/lib/cni/networks, private to the
 * node's mount namespace); with `declareUnused`, tether also declares capabilities it has no use for,
 * so containerd sends their runtimeConfig keys to it.
 */
function shippedConflist(file: string, declareUnused = false): Conflist {
  const list = JSON.parse(readFileSync(join(REPO_ROOT, "conf", file), "utf8")) as Conflist;
  const tether = list.plugins[0] as Record<string, unknown>;
  assert.equal(tether["type"], "tether");
  if (declareUnused) tether["capabilities"] = { "io.kubernetes.cri.pod-annotations": true, bandwidth: true };
  return list;
}

const K8S_ADDRESSES: [RegExp, RegExp] = [/^10\.244\.0\.\d+$/, /^fd00:10:244::[0-9a-f]+$/];

async function eventually<T>(what: string, fn: () => T | Promise<T>, ok: (v: T) => boolean, tries = 20): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await fn();
    if (ok(last)) return last;
    await sleep(250);
  }
  assert.fail(`${what}: last ${JSON.stringify(last)}`);
}

describe("tether under containerd's CRI (kubelet's path)", { skip, timeout: 900_000 }, () => {
  let n: CriNode;
  let work: string;
  let callLog: string;
  /** tether's default store, in the node's private /var/lib/cni. */
  const dataDir = (): string => n.privatePath("/var/lib/cni/networks");

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "tether-cri-images-"));
    callLog = join(work, "calls");
    mkdirSync(callLog);
    const real = tetherExecutable(work);
    n = new CriNode({ label: "e2e", tether: recordingTether(work, real, callLog), tetherIpam: real, plugins: PLUGINS, nodeAddress: `${NODE_IP}/24` });
    try {
      await n.start();
      n.importImages(work);
    } catch (e) {
      await n.destroy();
      throw e;
    }
  });

  after(async () => {
    await n?.destroy();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  const networkReady = async (): Promise<boolean | undefined> => (await n.client.status()).find((c) => c.type === "NetworkReady")?.status;

  test("Status: NetworkReady false with no conflist, true with tether's", async () => {
    assert.equal(await networkReady(), false);
    n.writeConflist("10-tether.conflist", shippedConflist("k8s-bridge.conflist"));
    await eventually("NetworkReady", networkReady, (v) => v === true, 80);
  });

  /** Puts a conflist in force: a fresh start reads the conf dir, so there is no doubt which one is. */
  async function useConflist(list: Conflist): Promise<void> {
    n.writeConflist("10-tether.conflist", list);
    for (const bridge of ["cni0", "tether0"]) if (n.node.hasLink(bridge)) n.node.exec(["ip", "link", "del", bridge]); // an earlier test's
    await n.restartContainerd();
    await eventually("NetworkReady", networkReady, (v) => v === true, 80);
  }

  for (const [mode, file, declareUnused] of [
    ["bridge", "k8s-bridge.conflist", true],
    ["ptp", "k8s-ptp.conflist", false],
  ] as const) {
    test(`${mode} (conf/${file}${declareUnused ? ", declaring capabilities tether does not use" : ", unchanged"}): pods, host ports, restart, stop and remove`, async () => {
      const list = shippedConflist(file, declareUnused);
      await useConflist(list);
      await exercise(mode, list);
    });
  }

  test("conf/10-tether.conflist (what install.sh writes), unchanged: a dual-stack pod, reachable, nothing left after Stop + Remove", async () => {
    const list = shippedConflist("10-tether.conflist");
    await useConflist(list);
    const pod = await runPod("pod-c", 32081);
    try {
      assertAddresses(pod, [/^10\.88\.\d+\.\d+$/, /^fd00:88::[0-9a-f]+$/]);
      await assertNetworkWorks([pod], false);
      assert.ok(leftovers([pod], list.name).length >= 3, "the pod's state is seen");
    } finally {
      await stopAndRemove(pod);
    }
    assert.deepEqual(leftovers([pod], list.name), []);
    assert.deepEqual(nodeVeths(), []);
  });

  interface Pod {
    spec: PodSpec;
    id: string;
    hostPort: number;
    container?: string;
    ips: string[];
  }

  async function runPod(name: string, hostPort: number, attempt = 0, uid = `uid-${name}-${rid()}`): Promise<Pod> {
    const spec: PodSpec = {
      name,
      namespace: "tether-e2e",
      uid,
      attempt,
      logDirectory: join(n.base, "logs", `${name}-${uid}`),
      portMappings: [{ protocol: "TCP", containerPort: CONTAINER_PORT, hostPort }],
      labels: { app: name },
      annotations: ANNOTATIONS,
    };
    const id = await n.client.runPodSandbox(spec);
    const st = await n.client.podSandboxStatus(id);
    assert.equal(st.state, 0, "SANDBOX_READY");
    return { spec, id, hostPort, ips: [st.ip, ...st.additionalIps] };
  }

  async function startServer(pod: Pod): Promise<void> {
    pod.container = await n.client.createContainer(pod.id, pod.spec, {
      name: "app",
      image: APP_IMAGE,
      command: ["/bin/busybox", "nc", "-ll", "-p", String(CONTAINER_PORT), "-e", "/bin/busybox", "echo", `hello from ${pod.spec.name}`],
      logPath: "app.log",
    });
    await n.client.startContainer(pod.container);
  }

  async function exec(pod: Pod, cmd: string[]): Promise<string> {
    assert.ok(pod.container);
    const r = await n.client.execSync(pod.container, ["/bin/busybox", ...cmd]);
    assert.equal(r.exitCode, 0, `${cmd.join(" ")} in ${pod.spec.name}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  const podPings = (from: Pod, to: string): Promise<boolean> =>
    n.client.execSync(from.container ?? "", ["/bin/busybox", "ping", "-c1", "-W2", to]).then((r) => r.exitCode === 0);

  function hostPortReply(port: number): string {
    return n.node.tryExec(["/bin/busybox", "nc", "-w", "5", NODE_IP, String(port)]).stdout.trim();
  }

  function assertAddresses(pod: Pod, [v4re, v6re]: [RegExp, RegExp] = K8S_ADDRESSES): void {
    const [v4, v6] = pod.ips;
    assert.equal(pod.ips.length, 2, `${pod.spec.name}: one IPv4 and one IPv6 address: ${pod.ips.join(", ")}`);
    assert.match(v4 ?? "", v4re);
    assert.match(v6 ?? "", v6re);
  }

  async function assertNetworkWorks(pods: Pod[], withContainers: boolean): Promise<void> {
    for (const p of pods) {
      for (const ip of p.ips) await eventually(`node -> ${p.spec.name} ${ip}`, () => n.node.ping(ip), (v) => v);
    }
    if (!withContainers) return;
    const [x, y] = pods;
    assert.ok(x && y);
    const pairs: [Pod, Pod][] = [
      [x, y],
      [y, x],
    ];
    for (const [from, to] of pairs) {
      for (const ip of to.ips) await eventually(`${from.spec.name} -> ${to.spec.name} ${ip}`, () => podPings(from, ip), (v) => v);
      assert.equal(
        await eventually(`host port ${from.hostPort}`, () => hostPortReply(from.hostPort), (v) => v !== ""),
        `hello from ${from.spec.name}`,
      );
    }
  }

  /** What is left of these pods in the node: each entry names one thing. */
  function leftovers(pods: Pod[], network: string): string[] {
    const out: string[] = [];
    const ruleset = n.node.exec(["nft", "list", "ruleset"]);
    const saved = n.node.exec(["iptables-save"]) + n.node.exec(["ip6tables-save"]);
    const addrs = n.node.exec(["ip", "-o", "addr", "show"]);
    const routes = n.node.exec(["ip", "-4", "route", "show", "table", "all"]) + n.node.exec(["ip", "-6", "route", "show", "table", "all"]);
    const storeDir = join(dataDir(), network);
    const reservations = existsSync(storeDir) ? readdirSync(storeDir).map((f) => [f, readFileSync(join(storeDir, f), "utf8")] as const) : [];
    const recordDir = join(dataDir(), ".tether-attachments", network);
    const records = existsSync(recordDir) ? readdirSync(recordDir).map((f) => readFileSync(join(recordDir, f), "utf8")) : [];
    for (const p of pods) {
      const key = { network, containerId: p.id, ifname: "eth0" };
      if (ruleset.includes(ruleComment(key))) out.push(`${p.spec.name}: nft rules`);
      if (saved.includes(p.id)) out.push(`${p.spec.name}: iptables rules (portmap)`);
      for (const ip of p.ips) {
        if (new RegExp(`inet6? ${ip.replace(/\./g, "\\.")}/`).test(addrs)) out.push(`${p.spec.name}: address ${ip} in the node`);
        if (new RegExp(`^${ip.replace(/\./g, "\\.")}( |/)`, "m").test(routes)) out.push(`${p.spec.name}: route to ${ip}`);
      }
      for (const [f, content] of reservations) if (content.includes(p.id)) out.push(`${p.spec.name}: reservation ${f}`);
      for (const r of records) if (r.includes(p.id)) out.push(`${p.spec.name}: attachment record`);
      if (existsSync(n.privatePath(`/var/lib/cni/results/${network}-${p.id}-eth0`))) out.push(`${p.spec.name}: libcni cache`);
    }
    return out;
  }

  const nodeVeths = (): string[] =>
    (JSON.parse(n.node.exec(["ip", "-j", "link", "show", "type", "veth"])) as { ifname: string }[]).map((l) => l.ifname).filter((x) => !x.startsWith("node0"));

  async function stopAndRemove(pod: Pod): Promise<void> {
    await n.client.stopPodSandbox(pod.id);
    await n.client.removePodSandbox(pod.id);
  }

  async function exercise(mode: "bridge" | "ptp", list: Conflist): Promise<void> {
    const network = list.name;
    const base = mode === "bridge" ? 30080 : 31080;
    const pods: Pod[] = [];
    try {
      const a = await runPod("pod-a", base + 1);
      pods.push(a);
      const b = await runPod("pod-b", base + 2);
      pods.push(b);
      for (const p of pods) assertAddresses(p);
      assert.notDeepEqual(a.ips, b.ips);
      assert.notEqual(a.ips[0], b.ips[0]);
      assert.notEqual(a.ips[1], b.ips[1]);
      assert.equal(nodeVeths().length, 2, "one host veth per pod");

      for (const p of pods) await startServer(p);
      for (const p of pods) {
        const eth0 = await exec(p, ["ip", "-o", "addr", "show", "dev", "eth0"]);
        for (const ip of p.ips) assert.match(eth0, new RegExp(`inet6? ${ip}/`), `${p.spec.name} eth0: ${eth0}`);
      }
      await assertNetworkWorks(pods, true);

      // what kubelet's path sent (libcni's cache): CNI_ARGS and capability args tether has no use for
      const cache = JSON.parse(readFileSync(n.privatePath(`/var/lib/cni/results/${network}-${a.id}-eth0`), "utf8")) as {
        cniArgs?: [string, string][];
        capabilityArgs?: Record<string, unknown>;
        result?: { cniVersion?: string };
      };
      const args = Object.fromEntries(cache.cniArgs ?? []);
      assert.equal(args["IgnoreUnknown"], "1");
      assert.equal(args["K8S_POD_NAMESPACE"], "tether-e2e");
      assert.equal(args["K8S_POD_NAME"], "pod-a");
      assert.equal(args["K8S_POD_INFRA_CONTAINER_ID"], a.id);
      assert.equal(args["K8S_POD_UID"], a.spec.uid);
      assert.deepEqual((cache.capabilityArgs?.["io.kubernetes.cri.pod-annotations"] as Record<string, string>)?.["example.com/note"], "kept by the runtime");
      assert.ok(cache.capabilityArgs?.["bandwidth"], `bandwidth sent: ${JSON.stringify(cache.capabilityArgs)}`);
      assert.equal(cache.result?.cniVersion, "1.0.0", "libcni 1.1 used the conflist's cniVersion");
      // and what tether got: with those capabilities declared, their keys in runtimeConfig (accepted)
      const [addCall] = calls(callLog, a.id);
      const runtimeConfig = (addCall?.stdin["runtimeConfig"] ?? {}) as Record<string, unknown>;
      const declared = (list.plugins[0]?.["capabilities"] ?? {}) as Record<string, boolean>;
      assert.equal(addCall?.command, "ADD");
      assert.deepEqual(Object.keys(runtimeConfig).sort(), Object.keys(declared).filter((k) => declared[k]).sort());
      if (declared["bandwidth"]) assert.ok(runtimeConfig["bandwidth"] && runtimeConfig["io.kubernetes.cri.pod-annotations"]);

      // containerd restarted while the pods run: they keep their network
      await n.restartContainerd();
      for (const p of pods) {
        const st = await n.client.podSandboxStatus(p.id);
        assert.deepEqual([st.ip, ...st.additionalIps], p.ips, `${p.spec.name} after the restart`);
      }
      await assertNetworkWorks(pods, true);

      // StopPodSandbox (DEL with the netns), RemovePodSandbox (DEL with an empty CNI_NETNS): nothing of A left
      await stopAndRemove(a);
      pods.shift();
      // kubelet's DELs as tether saw them: Stop with the netns and prevResult, Remove with neither
      const seen = calls(callLog, a.id);
      assert.deepEqual(
        seen.map((c) => [c.command, c.netns !== "", c.stdin["prevResult"] !== undefined]),
        [
          ["ADD", true, false],
          ["DEL", true, true],
          ["DEL", false, false],
        ],
        JSON.stringify(seen.map(({ command, netns }) => ({ command, netns }))),
      );
      const del = seen[1];
      assert.match(del?.args ?? "", new RegExp(`K8S_POD_INFRA_CONTAINER_ID=${a.id}`));
      assert.deepEqual(leftovers([a], network), []);
      assert.equal(nodeVeths().length, 1, "B's host veth stays");
      assert.ok(leftovers([b], network).length >= 4, `B's state is still there, and seen: ${leftovers([b], network).join(", ")}`);
      await assertNetworkWorks([b], false);

      // the same pod (name, namespace, uid) run again: a working network
      const again = await runPod("pod-a", base + 1, 1, a.spec.uid);
      pods.push(again);
      assertAddresses(again);
      await startServer(again);
      await assertNetworkWorks([b, again], true);

      for (const p of [...pods]) {
        await stopAndRemove(p);
        pods.splice(pods.indexOf(p), 1);
      }
      assert.deepEqual(leftovers([a, b, again], network), []);
      assert.deepEqual(nodeVeths(), [], "no host veth left");
      const recordDir = join(dataDir(), ".tether-attachments", network);
      assert.deepEqual(existsSync(recordDir) ? readdirSync(recordDir) : [], [], "no attachment record left");
      assert.deepEqual(await n.client.listPodSandbox(), []);
    } catch (e) {
      console.error(`containerd log:\n${n.logTail(40)}`);
      throw e;
    } finally {
      for (const p of pods) await stopAndRemove(p).catch(() => undefined);
    }
  }
});
