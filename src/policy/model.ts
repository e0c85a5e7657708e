/**
 * The normalized view the compiler works on: API objects reduced to what enforcement needs, with
 * defaults applied and selectors compiled (normalize.ts builds it; compile.ts reads it).
 */
import type { Family } from "../ip/ip";
import type { Interval } from "./ranges";
import type { CompiledSelector, Labels } from "./selector";

export type Protocol = "tcp" | "udp" | "sctp";
export const PROTOCOLS: readonly Protocol[] = ["tcp", "udp", "sctp"];

export interface NamedPort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
}

export interface PodView {
  /** "namespace/name" */
  readonly key: string;
  readonly namespace: string;
  readonly labels: Labels;
  /** Canonical address text per family, from status.podIPs (status.podIP when podIPs is absent). */
  readonly v4: readonly string[];
  readonly v6: readonly string[];
  readonly namedPorts: readonly NamedPort[];
  /** Scheduled on the compiling node (spec.nodeName). */
  readonly local: boolean;
  /** metadata.deletionTimestamp is set: its address may be freed and handed out before the pod is gone. */
  readonly terminating: boolean;
}

export interface NamespaceView {
  readonly name: string;
  readonly labels: Labels;
}

/**
 * A peer that names pods: those matching `pods` in the namespaces `namespaces` selects (a fixed
 * namespace: a podSelector alone; a selector: a namespaceSelector, alone or with a podSelector).
 */
export interface PodPeer {
  readonly kind: "pods";
  /** Stable identity of the peer definition (not of its current members). */
  readonly key: string;
  readonly namespaces: { readonly exact: string } | { readonly selector: CompiledSelector };
  readonly pods: CompiledSelector;
}

export interface BlockPeer {
  readonly kind: "block";
  readonly key: string;
  readonly family: Family;
  readonly intervals: readonly Interval[];
}

export type Peer = PodPeer | BlockPeer;

/** A port clause: a whole protocol, a number range (port..endPort), or a named container port. */
export type PortSpec =
  | { readonly protocol: Protocol; readonly kind: "all" }
  | { readonly protocol: Protocol; readonly kind: "range"; readonly from: number; readonly to: number }
  | { readonly protocol: Protocol; readonly kind: "named"; readonly name: string };

/** A rule: "any" for an absent or empty `from`/`to` or `ports` list (no restriction). */
export interface RuleView {
  readonly peers: readonly Peer[] | "any";
  readonly ports: readonly PortSpec[] | "any";
}

export interface PolicyView {
  /** "namespace/name" */
  readonly key: string;
  readonly namespace: string;
  readonly selector: CompiledSelector;
  /** undefined: the policy does not affect that direction; []: it isolates and allows nothing. */
  readonly ingress: readonly RuleView[] | undefined;
  readonly egress: readonly RuleView[] | undefined;
}

export interface ClusterView {
  readonly pods: readonly PodView[];
  readonly namespaces: ReadonlyMap<string, NamespaceView>;
  readonly policies: readonly PolicyView[];
  /** What normalize skipped or could not read, naming the object and field. */
  readonly warnings: readonly string[];
}
