/**
 * The names tether takes from outside, one rule each: container ids, network names and interface
 * names. Used by the CNI environment, the config, the IPAM store, the netlink layer, the CLI and doctor.
 * Each function says why a name is refused (undefined when it is fine); callers add the field and code.
 */

/** Container ids and network names: what the Go library accepts (also keeps them path-safe). */
export const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The longest container id tether takes, the same for every command and every reader of the store:
 * the longest a runtime can pass at all (Linux's MAX_ARG_STRLEN, 128 KiB, less "CNI_CONTAINERID="
 * and the NUL). So tether refuses no id host-local takes, and what ADD accepts DEL can release.
 */
export const MAX_CONTAINER_ID_LENGTH = 128 * 1024 - "CNI_CONTAINERID=".length - 1;

/** Network names become a directory of the store: the longest a file name can be. */
export const MAX_NETWORK_NAME_LENGTH = 255;

/** Linux's IFNAMSIZ: an interface name is at most 15 bytes and a NUL. */
export const IFNAMSIZ = 16;

export function isValidId(s: string): boolean {
  return ID_PATTERN.test(s);
}

/** Why a container id is refused; undefined when it is fine. */
export function containerIdProblem(id: string): string | undefined {
  if (id.length > MAX_CONTAINER_ID_LENGTH) return `is ${id.length} characters long, the limit is ${MAX_CONTAINER_ID_LENGTH}`;
  if (!ID_PATTERN.test(id)) return `is invalid: it must match ${ID_PATTERN.source}`;
  return undefined;
}

/** A network name: the id rule, and short enough to be a directory of the store. */
export function isNetworkName(name: unknown): name is string {
  return typeof name === "string" && ID_PATTERN.test(name) && name.length <= MAX_NETWORK_NAME_LENGTH;
}

/** Why a network name is refused, for messages; `shown`: the name as the message shows it. */
export function networkNameMessage(shown: string): string {
  return `${shown} is not a valid network name (${ID_PATTERN.source}, at most ${MAX_NETWORK_NAME_LENGTH} characters)`;
}

/** Linux interface names: 1..15 bytes of UTF-8, not "." or "..", no '/', ':', whitespace or NUL. */
export function ifnameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes === 0) return "is empty";
  if (bytes >= IFNAMSIZ) return `is ${bytes} bytes long, the limit is ${IFNAMSIZ - 1}`;
  if (name === "." || name === "..") return `may not be "${name}"`;
  if (/[/:\s]/u.test(name)) return "may not contain '/', ':' or whitespace";
  if (name.includes("\0")) return "may not contain NUL";
  // Node decodes the environment as UTF-8, turning bytes that are not into U+FFFD: the kernel would
  // get a name the runtime never asked for.
  if (name.includes("\uFFFD")) return "is not valid UTF-8 (or contains U+FFFD)";
  return undefined;
}
