/** Small API objects for policy tests: the upstream e2e model (namespaces x,y,z; pods a,b,c). */
import type { ContainerPort, Namespace, NetworkPolicy, NetworkPolicySpec, Pod } from "../../src/k8s/types";

export function ns(name: string, labels: Record<string, string> = { ns: name }): Namespace {
  return { metadata: { name, labels } };
}

export function pod(namespace: string, name: string, ips: string[], opts: { labels?: Record<string, string>; node?: string; ports?: ContainerPort[]; hostNetwork?: boolean } = {}): Pod {
  return {
    metadata: { namespace, name, labels: opts.labels ?? { pod: name } },
    spec: { nodeName: opts.node ?? "n1", ...(opts.hostNetwork ? { hostNetwork: true } : {}), containers: [{ name: "c", ports: opts.ports ?? [] }] },
    status: { phase: "Running", podIP: ips[0] as string, podIPs: ips.map((ip) => ({ ip })) },
  };
}

export function policy(namespace: string, name: string, spec: NetworkPolicySpec): NetworkPolicy {
  return { metadata: { namespace, name }, spec };
}

/** Named ports of the upstream model: serve-80-tcp, serve-81-udp, ... */
export const SERVE_PORTS: ContainerPort[] = [80, 81].flatMap((p) =>
  (["TCP", "UDP", "SCTP"] as const).map((protocol) => ({ name: `serve-${p}-${protocol.toLowerCase()}`, containerPort: p, protocol })),
);

/** x,y,z x a,b,c with addresses 10.0.<ns>.<pod>/fd00::<ns>:<pod>, all on node n1 unless told. */
export function xyz(nodeOf: (ns: string, p: string) => string = () => "n1"): { pods: Pod[]; namespaces: Namespace[]; ip: (ns: string, p: string, fam?: 4 | 6) => string; podOf: (ns: string, p: string) => Pod } {
  const nsIdx = { x: 1, y: 2, z: 3 } as Record<string, number>;
  const podIdx = { a: 2, b: 3, c: 4 } as Record<string, number>;
  const ip = (n: string, p: string, fam: 4 | 6 = 4): string => (fam === 4 ? `10.0.${nsIdx[n]}.${podIdx[p]}` : `fd00::${nsIdx[n]}:${podIdx[p]}`);
  const pods: Pod[] = [];
  for (const n of ["x", "y", "z"]) for (const p of ["a", "b", "c"]) pods.push(pod(n, p, [ip(n, p), ip(n, p, 6)], { node: nodeOf(n, p), ports: SERVE_PORTS }));
  const podOf = (n: string, p: string): Pod => pods.find((q) => q.metadata.namespace === n && q.metadata.name === p) as Pod;
  return { pods, namespaces: ["x", "y", "z"].map((n) => ns(n)), ip, podOf };
}
