/** CNI_ARGS: "K=V;K2=V2" (deprecated in favour of the config's `args`, still sent by every runtime). */
import { CniError, ErrorCode } from "./errors";
import { isCidr, isIp } from "../ip/text";
import { quoteForeign } from "../util/quote";

export interface CniArgs {
  ignoreUnknown: boolean;
  k8sPodNamespace?: string;
  k8sPodName?: string;
  k8sPodInfraContainerId?: string;
  k8sPodUid?: string;
  /** IP=, a comma-separated list, each with or without a prefix length. */
  ips: string[];
  mac?: string;
  /** Every pair, known or not, in order. */
  raw: [string, string][];
}

const KNOWN = new Set([
  "IgnoreUnknown",
  "K8S_POD_NAMESPACE",
  "K8S_POD_NAME",
  "K8S_POD_INFRA_CONTAINER_ID",
  "K8S_POD_UID",
  "IP",
  "MAC",
  // static IPAM's gateway for the IP= addresses, read by src/config/ipam.ts
  "GATEWAY",
]);

function argsError(msg: string): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, `CNI_ARGS: ${msg}`);
}

function parseBool(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  throw argsError(`${key}=${quoteForeign(value)}: expected 1, true, 0 or false`);
}

function isIpWithOptionalPrefix(s: string): boolean {
  return s.includes("/") ? isCidr(s) : isIp(s);
}

/**
 * Parse CNI_ARGS. `lenient` (used for DEL, which must never fail on argument strictness) skips
 * malformed pairs, unknown keys and bad values instead of failing.
 */
export function parseCniArgs(text: string, lenient = false): CniArgs {
  const out: CniArgs = { ignoreUnknown: false, ips: [], raw: [] };
  if (text.trim() === "") return out;
  const fail = (e: CniError): void => {
    if (!lenient) throw e;
  };
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      fail(argsError(`${quoteForeign(pair)} is not a KEY=VALUE pair`));
      continue;
    }
    out.raw.push([pair.slice(0, eq), pair.slice(eq + 1)]);
  }
  for (const [key, value] of out.raw) {
    if (key === "IgnoreUnknown") {
      try {
        out.ignoreUnknown = parseBool(key, value);
      } catch (e) {
        fail(e as CniError);
      }
    }
  }
  const unknown: string[] = [];
  for (const [key, value] of out.raw) {
    switch (key) {
      case "K8S_POD_NAMESPACE":
        out.k8sPodNamespace = value;
        break;
      case "K8S_POD_NAME":
        out.k8sPodName = value;
        break;
      case "K8S_POD_INFRA_CONTAINER_ID":
        out.k8sPodInfraContainerId = value;
        break;
      case "K8S_POD_UID":
        out.k8sPodUid = value;
        break;
      case "IP":
        for (const ip of value.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
          if (isIpWithOptionalPrefix(ip)) out.ips.push(ip);
          else fail(argsError(`IP=${quoteForeign(ip)}: not an IP address`));
        }
        break;
      case "MAC":
        if (/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(value)) out.mac = value.toLowerCase();
        else fail(argsError(`MAC=${quoteForeign(value)}: not a MAC address`));
        break;
      default:
        if (!KNOWN.has(key)) unknown.push(key);
    }
  }
  if (unknown.length > 0 && !out.ignoreUnknown) {
    fail(argsError(`unknown keys [${quoteForeign(unknown.join(","))}] (set IgnoreUnknown=1 to ignore them)`));
  }
  return out;
}
