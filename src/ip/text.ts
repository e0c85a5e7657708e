/**
 * IP address text validators. Our own, because node:net's isIP loads all of node:net and its
 * streams (several milliseconds of every CNI call) for one check.
 */
const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4_RE = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Dotted quad, no leading zeros (as Go and node:net). */
export function isIPv4(text: string): boolean {
  return IPV4_RE.test(text);
}

/** RFC 4291 text forms: eight groups, or fewer around one "::", optionally ending in dotted IPv4. No zone. */
export function isIPv6(text: string): boolean {
  if (!text.includes(":") || text.includes("%")) return false;
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groupsOf = (part: string): string[] => (part === "" ? [] : part.split(":"));
  const left = groupsOf(halves[0] ?? "");
  const right = halves.length === 2 ? groupsOf(halves[1] ?? "") : [];
  const all = [...left, ...right];
  let count = all.length;
  // Only the text's very last group may be a dotted quad ("1.2.3.4::" is not an address).
  const tail = halves.length === 2 ? right : left;
  const last = tail[tail.length - 1];
  if (last !== undefined && last.includes(".")) {
    if (!isIPv4(last)) return false;
    all.pop();
    count += 1; // the dotted tail stands for two groups
  }
  if (!all.every((g) => HEX_GROUP.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** The family of an address or CIDR already validated elsewhere: a cheap test, no parse. */
export function familyOfValid(text: string): 4 | 6 {
  return text.includes(":") ? 6 : 4;
}

/** 4, 6, or 0 when the text is neither (node:net's isIP, without the zone). */
export function ipFamilyOf(text: string): 0 | 4 | 6 {
  return isIPv4(text) ? 4 : isIPv6(text) ? 6 : 0;
}

export function isIp(text: string): boolean {
  return ipFamilyOf(text) !== 0;
}

/** A prefix length as Go's net.ParseCIDR reads it (dtoi): ASCII digits, leading zeros allowed, no sign or space. */
export const GO_PREFIX_LENGTH = /^[0-9]+$/;

/**
 * "a.b.c.d/len" or "x::y/len" with a prefix length valid for the family. The length is one or more
 * ASCII digits, leading zeros allowed ("/024"), as Go's net.ParseCIDR (the reference plugins') reads it.
 */
export function isCidr(text: string): boolean {
  const slash = text.indexOf("/");
  if (slash < 0) return false;
  const family = ipFamilyOf(text.slice(0, slash));
  const len = text.slice(slash + 1);
  if (family === 0 || !GO_PREFIX_LENGTH.test(len)) return false;
  return Number(len) <= (family === 4 ? 32 : 128);
}
