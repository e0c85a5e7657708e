/**
 * What the plugins need from the firewall: masquerade and spoof checks per attachment, removed by
 * the attachment's key alone. src/firewall/system.ts implements it with nft / iptables; unit tests
 * substitute a fake.
 */
import { withFaultPoints } from "../util/faults";
import type { AttachmentKey, RuleTags } from "./key";
import type { SpoofCheckSpec } from "./nftables";
import { lazy } from "../util/lazy";

const systemModule = lazy(() => require("./system") as typeof import("./system"));

export type { AttachmentKey, RuleTags } from "./key";
export type { SpoofCheckSpec, NftFamily } from "./nftables";

export type MasqBackend = "nftables" | "iptables";

export interface Firewall {
  /** Masquerade traffic from `cidrs` ("10.88.0.5/24") leaving their subnet; backend undefined: nftables where nft works, else iptables. */
  addMasquerade(key: AttachmentKey, cidrs: readonly string[], backend: MasqBackend | undefined): Promise<void>;
  /** Remove the attachment's masquerade rules from both backends; absent rules are fine. */
  removeMasquerade(key: AttachmentKey): Promise<void>;
  /** Whether masquerade rules of the attachment exist (in either backend). */
  hasMasquerade(key: AttachmentKey): Promise<boolean>;
  addSpoofCheck(key: AttachmentKey, spec: SpoofCheckSpec): Promise<void>;
  /** Remove the attachment's spoof-check rules (both families); absent rules are fine. */
  removeSpoofCheck(key: AttachmentKey): Promise<void>;
  hasSpoofCheck(key: AttachmentKey): Promise<boolean>;
  /**
   * Remove every rule of `network` whose attachment is not in `valid`, except those whose attachment
   * tag `spare` returns: it is called under the firewall lock, so what it spares (attachments with a
   * call running, ADDs newer than the list) is known at the moment no ADD can add rules.
   */
  gc(network: string, valid: readonly AttachmentKey[], spare?: () => ReadonlySet<string>): Promise<void>;
  /** The tags of every rule of tether's (both backends, every table), one entry per rule. */
  listTags(): Promise<RuleTags[]>;
  /** Remove every rule whose attachment tag is in `attachments` (both backends). */
  removeTagged(attachments: ReadonlySet<string>): Promise<void>;
}

/** The backend an ADD uses: the configured one, else nftables when nft works. */
export function chooseMasqBackend(configured: MasqBackend | undefined, nftWorks: () => boolean): MasqBackend {
  return configured ?? (nftWorks() ? "nftables" : "iptables");
}

/** The firewall of this machine (nft / iptables), loaded on first use. */
export function realFirewall(): Firewall {
  const fw = systemModule().systemFirewall;
  // Tests only (src/util/faults.ts): identity in dist/tether.
  return withFaultPoints(fw, "firewall", ["addMasquerade", "addSpoofCheck"]);
}
