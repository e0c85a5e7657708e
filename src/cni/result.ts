/**
 * Results: conversion from the internal (1.1-shaped) result to the requested version, as libcni does,
 * and parsing of a result of any version (prevResult, a delegated IPAM's output) into the internal one.
 */
import { CniError, ErrorCode } from "./errors";
import type { Dns, Interface, IpConfig, Result, Route } from "./types";
import { compareVersions } from "./version";
import { familyOfValid } from "../ip/text";

type Json = Record<string, unknown>;

/** The family of an address already validated elsewhere, as the 0.2.0 result's "version" (no node:net: VERSION must stay cheap). */
function familyOf(cidrOrIp: string): "4" | "6" {
  return familyOfValid(cidrOrIp) === 6 ? "6" : "4";
}

type LooseDns = { [K in keyof Dns]?: Dns[K] | undefined };

/** Only the non-empty DNS fields, in Go's field order; undefined when nothing is left. */
export function compactDns(dns: LooseDns | undefined): Dns | undefined {
  if (!dns) return undefined;
  const out: Dns = {};
  if (dns.nameservers?.length) out.nameservers = dns.nameservers;
  if (dns.domain) out.domain = dns.domain;
  if (dns.search?.length) out.search = dns.search;
  if (dns.options?.length) out.options = dns.options;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The fields of `o` named in `keys`, in that order, those that are set. The reference plugins print
 * Go structs, whose fields come in declaration order: tether prints the same order, so its output is
 * the reference's byte for byte where the values agree.
 */
function ordered<T extends object>(o: T, keys: readonly (keyof T & string)[]): Json {
  const out: Json = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

const INTERFACE_KEYS = ["name", "mac", "mtu", "sandbox", "socketPath", "pciID"] as const;
const ROUTE_KEYS = ["dst", "gw", "mtu", "advmss", "priority", "table", "scope"] as const;
/** A Go types.DNS is a struct, not a pointer: the reference prints "dns": {} when there is none. */
function dnsOf(result: Result): Dns {
  return compactDns(result.dns) ?? {};
}

function legacyRoute(r: Route): Json {
  return ordered(r, ["dst", "gw"]);
}

/** The result as the runtime asked for it, in the reference's field order. Throws (code 1) where the version cannot express it. */
export function convertResult(result: Result, version: string): Json {
  if (compareVersions(version, "1.0.0") >= 0) {
    const out: Json = { cniVersion: version };
    if (result.interfaces?.length) out["interfaces"] = result.interfaces.map((i) => ordered(i, INTERFACE_KEYS));
    if (result.ips?.length) out["ips"] = result.ips.map((ip) => ordered(ip, ["interface", "address", "gateway"]));
    if (result.routes?.length) out["routes"] = result.routes.map((r) => ordered(r, ROUTE_KEYS));
    out["dns"] = dnsOf(result);
    return out;
  }
  if (compareVersions(version, "0.3.0") >= 0) {
    const out: Json = { cniVersion: version };
    if (result.interfaces?.length) out["interfaces"] = result.interfaces.map((i) => ordered(i, ["name", "mac", "sandbox"]));
    if (result.ips?.length) {
      out["ips"] = result.ips.map((ip) => ordered({ version: familyOf(ip.address), ...ip }, ["version", "interface", "address", "gateway"]));
    }
    if (result.routes?.length) out["routes"] = result.routes.map(legacyRoute);
    out["dns"] = dnsOf(result);
    return out;
  }
  const v4 = result.ips?.find((ip) => familyOf(ip.address) === "4");
  const v6 = result.ips?.find((ip) => familyOf(ip.address) === "6");
  if (!v4 && !v6) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `cannot express the result in cniVersion ${version}: it has no IP address`,
      "results of 0.1.0 and 0.2.0 carry only ip4/ip6; use cniVersion 0.3.0 or later for an L2-only network",
    );
  }
  const out: Json = { cniVersion: version };
  for (const [key, ip, fam] of [
    ["ip4", v4, "4"],
    ["ip6", v6, "6"],
  ] as const) {
    if (!ip) continue;
    const o: Json = { ip: ip.address };
    if (ip.gateway !== undefined) o["gateway"] = ip.gateway;
    const routes = (result.routes ?? []).filter((r) => familyOf(r.dst) === fam).map(legacyRoute);
    if (routes.length > 0) o["routes"] = routes;
    out[key] = o;
  }
  out["dns"] = dnsOf(result);
  return out;
}

// ---- parsing ---------------------------------------------------------------------------------

function bad(where: string, what: string): CniError {
  return new CniError(ErrorCode.DecodingFailure, `${where}: ${what}`);
}

function str(v: unknown, where: string): string {
  if (typeof v !== "string") throw bad(where, `expected a string, got ${JSON.stringify(v)}`);
  return v;
}

function optStr(v: unknown, where: string): string | undefined {
  return v === undefined || v === null || v === "" ? undefined : str(v, where);
}

function optNum(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw bad(where, `expected a whole number, got ${JSON.stringify(v)}`);
  return v;
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(where, "expected a list");
  return v;
}

function obj(v: unknown, where: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(where, "expected an object");
  return v as Json;
}

function strList(v: unknown, where: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return list(v, where).map((x, i) => str(x, `${where}[${i}]`));
}

function parseRoute(v: unknown, where: string): Route {
  const o = obj(v, where);
  const r: Route = { dst: str(o["dst"], `${where}.dst`) };
  const gw = optStr(o["gw"], `${where}.gw`);
  if (gw !== undefined) r.gw = gw;
  for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
    const n = optNum(o[k], `${where}.${k}`);
    if (n !== undefined) r[k] = n;
  }
  return r;
}

function parseDns(v: unknown, where: string): Dns | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, where);
  const d: Dns = {};
  const ns = strList(o["nameservers"], `${where}.nameservers`);
  if (ns) d.nameservers = ns;
  const domain = optStr(o["domain"], `${where}.domain`);
  if (domain !== undefined) d.domain = domain;
  const search = strList(o["search"], `${where}.search`);
  if (search) d.search = search;
  const options = strList(o["options"], `${where}.options`);
  if (options) d.options = options;
  return compactDns(d);
}

/** Parse a result of any supported version into the internal model (version kept as given). */
export function parseResult(raw: unknown, defaultVersion: string, where = "result"): Result {
  const o = obj(raw, where);
  const version = optStr(o["cniVersion"], `${where}.cniVersion`) ?? defaultVersion;
  const result: Result = { cniVersion: version };
  const dns = parseDns(o["dns"], `${where}.dns`);
  if (dns) result.dns = dns;
  if (compareVersions(version, "0.3.0") < 0) {
    const ips: IpConfig[] = [];
    const routes: Route[] = [];
    for (const key of ["ip4", "ip6"] as const) {
      if (o[key] === undefined || o[key] === null) continue;
      const ipo = obj(o[key], `${where}.${key}`);
      const ip: IpConfig = { address: str(ipo["ip"], `${where}.${key}.ip`) };
      const gw = optStr(ipo["gateway"], `${where}.${key}.gateway`);
      if (gw !== undefined) ip.gateway = gw;
      ips.push(ip);
      list(ipo["routes"], `${where}.${key}.routes`).forEach((r, i) => routes.push(parseRoute(r, `${where}.${key}.routes[${i}]`)));
    }
    if (ips.length) result.ips = ips;
    if (routes.length) result.routes = routes;
    return result;
  }
  const interfaces = list(o["interfaces"], `${where}.interfaces`).map((v, i): Interface => {
    const w = `${where}.interfaces[${i}]`;
    const io = obj(v, w);
    const itf: Interface = { name: str(io["name"], `${w}.name`) };
    const mac = optStr(io["mac"], `${w}.mac`);
    if (mac !== undefined) itf.mac = mac;
    const mtu = optNum(io["mtu"], `${w}.mtu`);
    if (mtu !== undefined) itf.mtu = mtu;
    const sandbox = optStr(io["sandbox"], `${w}.sandbox`);
    if (sandbox !== undefined) itf.sandbox = sandbox;
    const socketPath = optStr(io["socketPath"], `${w}.socketPath`);
    if (socketPath !== undefined) itf.socketPath = socketPath;
    const pciID = optStr(io["pciID"], `${w}.pciID`);
    if (pciID !== undefined) itf.pciID = pciID;
    return itf;
  });
  const ips = list(o["ips"] ?? o["ip"], `${where}.ips`).map((v, i): IpConfig => {
    const w = `${where}.ips[${i}]`;
    const io = obj(v, w);
    const ip: IpConfig = { address: str(io["address"], `${w}.address`) };
    const gw = optStr(io["gateway"], `${w}.gateway`);
    if (gw !== undefined) ip.gateway = gw;
    const idx = optNum(io["interface"], `${w}.interface`);
    if (idx !== undefined) {
      if (idx >= interfaces.length) throw bad(`${w}.interface`, `index ${idx} is out of range (${interfaces.length} interfaces)`);
      ip.interface = idx;
    }
    return ip;
  });
  const routes = list(o["routes"], `${where}.routes`).map((r, i) => parseRoute(r, `${where}.routes[${i}]`));
  if (interfaces.length) result.interfaces = interfaces;
  if (ips.length) result.ips = ips;
  if (routes.length) result.routes = routes;
  return result;
}
