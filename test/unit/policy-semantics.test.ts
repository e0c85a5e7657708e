/**
 * The compiled ruleset against the API reference's semantics, on random clusters: for every pair
 * of endpoints (pods of this and another node, addresses outside any pod) and probe port, the
 * interpreter of the compiled ruleset and the reference evaluator (test/helpers/policyEval.ts,
 * no code shared with src/policy) must agree.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod } from "../../src/k8s/types";
import { PolicyCompiler } from "../../src/policy/compile";
import { referenceAllows, rulesetAllows, type Endpoint, type Proto } from "../helpers/policyEval";
import { ns, pod, policy } from "../helpers/policyWorld";

const NAMESPACES = ["x", "y", "z"];
const PODS = ["a", "b", "c"];

const selectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...PODS).map((p) => ({ matchLabels: { pod: p } })),
  fc.constantFrom("web", "db").map((r) => ({ matchLabels: { role: r } })),
  fc.record({ key: fc.constantFrom("pod", "role"), operator: fc.constantFrom("In" as const, "NotIn" as const), values: fc.subarray(["a", "b", "web"], { minLength: 1 }) }).map((e) => ({ matchExpressions: [e] })),
  fc.record({ key: fc.constantFrom("role", "pod"), operator: fc.constantFrom("Exists" as const, "DoesNotExist" as const) }).map((e) => ({ matchExpressions: [e] })),
);
const nsSelectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...NAMESPACES).map((n) => ({ matchLabels: { ns: n } })),
  fc.constant<LabelSelector>({ matchExpressions: [{ key: "team", operator: "Exists" }] }),
);
const peerArb: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  selectorArb.map((podSelector) => ({ podSelector })),
  nsSelectorArb.map((namespaceSelector) => ({ namespaceSelector })),
  fc.tuple(nsSelectorArb, selectorArb).map(([namespaceSelector, podSelector]) => ({ namespaceSelector, podSelector })),
  fc.constantFrom<NetworkPolicyPeer>(
    { ipBlock: { cidr: "10.0.0.0/16", except: ["10.0.2.0/24"] } },
    { ipBlock: { cidr: "10.0.1.0/24", except: ["10.0.1.2/32"] } },
    { ipBlock: { cidr: "192.168.0.0/16" } },
    { ipBlock: { cidr: "fd00::/64", except: ["fd00::2:0/112"] } },
    { ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] } },
  ),
);
const portArb: fc.Arbitrary<NetworkPolicyPort> = fc.constantFrom<NetworkPolicyPort>(
  { port: 80 },
  { port: 81, protocol: "UDP" },
  { port: 80, endPort: 81 },
  { protocol: "SCTP" },
  { protocol: "UDP" },
  { port: "http" },
  { port: "dns", protocol: "UDP" },
  { port: "http", protocol: "UDP" },
);
const listOr = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T[] | undefined> => fc.oneof(fc.constant(undefined), fc.constant<T[]>([]), fc.array(arb, { minLength: 1, maxLength: 2 }));
const ruleArb = fc.record({ peers: listOr(peerArb), ports: listOr(portArb) });

const policyArb = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  podSelector: selectorArb,
  types: fc.constantFrom<("Ingress" | "Egress")[] | undefined>(undefined, ["Ingress"], ["Egress"], ["Ingress", "Egress"]),
  ingress: fc.option(fc.array(ruleArb, { maxLength: 2 }), { nil: undefined }),
  egress: fc.option(fc.array(ruleArb, { maxLength: 2 }), { nil: undefined }),
});

const worldArb = fc.record({
  roles: fc.array(fc.constantFrom(undefined, "web", "db"), { minLength: 9, maxLength: 9 }),
  ports: fc.array(fc.constantFrom(80, 81, 8080), { minLength: 9, maxLength: 9 }),
  remote: fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
  team: fc.subarray(NAMESPACES),
  policies: fc.array(policyArb, { maxLength: 4 }),
});

const PROBES: [Proto, number][] = [["TCP", 80], ["TCP", 81], ["UDP", 81], ["UDP", 53], ["SCTP", 80], ["TCP", 8080]];

describe("compiled ruleset = API semantics (property)", () => {
  it("random clusters and policies: every endpoint pair and probe agrees", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const pods: Pod[] = [];
        NAMESPACES.forEach((n, i) =>
          PODS.forEach((p, j) => {
            const k = i * 3 + j;
            const role = w.roles[k];
            const labels: Record<string, string> = { pod: p, ...(role !== undefined ? { role } : {}) };
            pods.push(
              pod(n, p, [`10.0.${i + 1}.${j + 2}`, `fd00::${i + 1}:${j + 2}`], {
                labels,
                node: w.remote[k] ? "n2" : "n1",
                ports: [{ name: "http", containerPort: w.ports[k] as number }, { name: "dns", containerPort: 53, protocol: "UDP" }],
              }),
            );
          }),
        );
        const namespaces = NAMESPACES.map((n) => ns(n, { ns: n, ...(w.team.includes(n) ? { team: "t" } : {}) }));
        const policies: NetworkPolicy[] = w.policies.map((p, i) =>
          policy(p.namespace, `p${i}`, {
            podSelector: p.podSelector,
            ...(p.types !== undefined ? { policyTypes: p.types } : {}),
            ...(p.ingress !== undefined ? { ingress: p.ingress.map((r) => ({ ...(r.peers ? { from: r.peers } : {}), ...(r.ports ? { ports: r.ports } : {}) })) } : {}),
            ...(p.egress !== undefined ? { egress: p.egress.map((r) => ({ ...(r.peers ? { to: r.peers } : {}), ...(r.ports ? { ports: r.ports } : {}) })) } : {}),
          }),
        );
        const world = { pods, namespaces, policies };
        const { ruleset } = new PolicyCompiler("n1").compileRuleset(world);
        for (const fam of [4, 6] as const) {
          const endpoints: Endpoint[] = [
            ...pods.map((p) => ({ ip: p.status?.podIPs?.[fam === 4 ? 0 : 1]?.ip as string, pod: p })),
            { ip: fam === 4 ? "192.168.7.7" : "fd00::2:9" },
            { ip: fam === 4 ? "10.0.2.99" : "fd01::1" },
          ];
          for (const src of endpoints)
            for (const dst of endpoints) {
              if (src === dst) continue;
              for (const [proto, port] of PROBES) {
                const want = referenceAllows(world, "n1", src, dst, proto, port);
                const got = rulesetAllows(ruleset, src.ip, dst.ip, proto, port);
                if (want !== got) {
                  assert.fail(`${src.pod?.metadata.namespace ?? ""}/${src.pod?.metadata.name ?? src.ip} -> ${dst.pod?.metadata.namespace ?? ""}/${dst.pod?.metadata.name ?? dst.ip} ${proto}/${port}: reference ${want}, ruleset ${got}\n${JSON.stringify(policies, null, 1)}`);
                }
              }
            }
        }
      }),
      { numRuns: 150, seed: 16 },
    );
  });
});
