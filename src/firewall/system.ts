/** The Firewall on this machine: nft (and iptables for masquerade when chosen or when nft does not work). */
import type { Firewall, MasqBackend } from "./index";
import { chooseMasqBackend } from "./index";
import { FirewallError, mustRunTool, runTool } from "./exec";
import { iptablesTeardownRestore, iptablesMasqueradeRestore, parseIptablesSave, type SavedNat } from "./iptables";
import { attachmentTag, iptablesChain, iptablesChainOfTag, networkTag, parseRuleComment, ruleComment, type AttachmentKey, type RuleTags } from "./key";
import { withFirewallLock } from "./lock";
import { nftDeleteBatch, nftMasqueradeBatch, nftSpoofCheckBatch, parseNftRules, NFT_TABLE, type NftFamily, type NftRule } from "./nftables";
import { masqueradeSources, type MasqSource } from "./sources";
import { log } from "../util/log";
import { descriptorExhaustion } from "../cni/errors";

const IPTABLES = { 4: "iptables", 6: "ip6tables" } as const;

/** Out of file descriptors says nothing of nft: that error goes up, it never picks iptables. */
function nftWorks(): boolean {
  try {
    const r = runTool("nft", ["list", "tables"]);
    if (r !== undefined && r.status !== 0 && /too many open files/i.test(r.stderr)) {
      throw new FirewallError("nft list tables", r.stderr, undefined, { cause: Object.assign(new Error("nft: too many open files"), { code: "EMFILE" }) });
    }
    return r?.status === 0;
  } catch (err) {
    if (descriptorExhaustion(err) !== undefined) throw err;
    return false;
  }
}

function nftApply(batch: string): void {
  mustRunTool("nft", ["-f", "-"], batch);
}

/** The rules of table `family tether`; undefined when the table (or nft) is absent. */
function nftRules(family: NftFamily): NftRule[] | undefined {
  const r = runTool("nft", ["-j", "-a", "list", "table", family, NFT_TABLE]);
  if (r === undefined) return undefined;
  if (r.status !== 0) {
    if (/No such file or directory|does not exist/i.test(r.stderr)) return undefined;
    throw new FirewallError(`nft list table ${family} ${NFT_TABLE}`, r.stderr);
  }
  return parseNftRules(r.stdout);
}

/**
 * nftRules for removal: an nft that does not work (installed, but nf_tables unusable: no module, a
 * container without the capability) holds no rules of ours that could be removed anyway, and must
 * not keep the iptables teardown that follows from running. Warned, then treated as no rules.
 */
function nftRulesForRemoval(family: NftFamily): NftRule[] | undefined {
  try {
    return nftRules(family);
  } catch (err) {
    if (descriptorExhaustion(err) !== undefined) throw err;
    log.warn(`nft does not work; no nftables rules removed from table ${family} ${NFT_TABLE}`, { error: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

function nftRemove(family: NftFamily, select: (r: NftRule) => boolean): void {
  const all = nftRulesForRemoval(family);
  if (all === undefined) return;
  const batch = nftDeleteBatch(family, all, all.filter(select));
  if (batch !== undefined) nftApply(batch);
}

/** The nat table as iptables-save (or ip6tables-save) shows it; undefined without the tool. */
function iptablesNat(family: 4 | 6): SavedNat | undefined {
  const r = runTool(`${IPTABLES[family]}-save`, ["-t", "nat"]);
  if (r === undefined) return undefined;
  // A kernel without that nat table has nothing of ours in it.
  if (r.status !== 0) return { chains: [], rules: [] };
  return parseIptablesSave(r.stdout);
}

function iptablesRestore(family: 4 | 6, text: string): void {
  mustRunTool(`${IPTABLES[family]}-restore`, ["-w", "--noflush"], text);
}

function iptablesRemoveChains(chainsOf: (saved: SavedNat) => Set<string>, families: readonly (4 | 6)[] = [4, 6]): void {
  for (const family of families) {
    const saved = iptablesNat(family);
    if (saved === undefined) continue;
    const text = iptablesTeardownRestore(saved, chainsOf(saved));
    if (text !== undefined) iptablesRestore(family, text);
  }
}

function addMasqueradeNow(key: AttachmentKey, sources: MasqSource[], backend: MasqBackend): void {
  if (backend === "nftables") {
    nftApply(nftMasqueradeBatch(ruleComment(key), sources));
    return;
  }
  for (const family of [4, 6] as const) {
    const mine = sources.filter((s) => s.family === family);
    if (mine.length > 0) iptablesRestore(family, iptablesMasqueradeRestore(iptablesChain(key), ruleComment(key), mine));
  }
}

export const systemFirewall: Firewall = {
  async addMasquerade(key, cidrs, configured) {
    const sources = masqueradeSources(cidrs);
    if (sources.length === 0) return;
    const backend = chooseMasqBackend(configured, nftWorks);
    withFirewallLock(() => addMasqueradeNow(key, sources, backend));
  },
  async removeMasquerade(key) {
    const comment = ruleComment(key);
    const chain = iptablesChain(key);
    const isOurs = (r: NftRule): boolean => r.chain === "postrouting" && r.comment === comment;
    // Only the attachment's own ADD adds these rules, and a runtime never runs it alongside the
    // attachment's DEL: a look without the lock that finds none means there is nothing to remove
    // (kubelet's second DEL), so concurrent DELs do not queue on the lock for nothing. What it finds
    // is looked up again under the lock, in that backend only.
    const inNft = (nftRulesForRemoval("inet") ?? []).some(isOurs);
    const inIptables = ([4, 6] as const).filter((f) => (iptablesNat(f)?.chains ?? []).includes(chain));
    if (!inNft && inIptables.length === 0) return;
    withFirewallLock(() => {
      if (inNft) nftRemove("inet", isOurs);
      if (inIptables.length > 0) iptablesRemoveChains(() => new Set([chain]), inIptables);
    });
  },
  async hasMasquerade(key) {
    const comment = ruleComment(key);
    if ((nftRules("inet") ?? []).some((r) => r.chain === "postrouting" && r.comment === comment)) return true;
    const chain = iptablesChain(key);
    return ([4, 6] as const).some((f) => (iptablesNat(f)?.chains ?? []).includes(chain));
  },
  async addSpoofCheck(key, spec) {
    const batch = nftSpoofCheckBatch(ruleComment(key), spec);
    withFirewallLock(() => nftApply(batch));
  },
  async removeSpoofCheck(key) {
    const comment = ruleComment(key);
    withFirewallLock(() => {
      for (const family of ["bridge", "inet"] as const) nftRemove(family, (r) => r.chain === "spoofcheck" && r.comment === comment);
    });
  },
  async hasSpoofCheck(key) {
    const comment = ruleComment(key);
    return (["bridge", "inet"] as const).some((f) => (nftRules(f) ?? []).some((r) => r.chain === "spoofcheck" && r.comment === comment));
  },
  async gc(network, valid, spare) {
    const net = networkTag(network);
    const keep = new Set(valid.map(attachmentTag));
    withFirewallLock(() => {
      const spared = spare?.() ?? new Set<string>();
      removeWhere((tags) => tags.network === net && !keep.has(tags.attachment) && !spared.has(tags.attachment));
    });
  },
  async listTags() {
    const out: RuleTags[] = [];
    const add = (comment: string | undefined): void => {
      const tags = comment === undefined ? undefined : parseRuleComment(comment);
      if (tags !== undefined) out.push(tags);
    };
    for (const family of ["inet", "bridge"] as const) for (const r of nftRules(family) ?? []) add(r.comment);
    for (const family of [4, 6] as const) for (const r of iptablesNat(family)?.rules ?? []) add(r.comment);
    return out;
  },
  async removeTagged(attachments) {
    if (attachments.size === 0) return;
    withFirewallLock(() => removeWhere((tags) => attachments.has(tags.attachment)));
  },
};

/** Remove every rule (nft) and attachment chain (iptables) whose comment's tags `doomed` accepts. Caller holds the lock. */
function removeWhere(doomed: (tags: RuleTags) => boolean): void {
  const stale = (comment: string | undefined): string | undefined => {
    const tags = comment === undefined ? undefined : parseRuleComment(comment);
    return tags && doomed(tags) ? tags.attachment : undefined;
  };
  for (const family of ["inet", "bridge"] as const) nftRemove(family, (r) => stale(r.comment) !== undefined);
  iptablesRemoveChains((saved) => {
    const chains = new Set<string>();
    for (const r of saved.rules) {
      const tag = stale(r.comment);
      if (tag !== undefined) chains.add(iptablesChainOfTag(tag));
    }
    return chains;
  });
}
