/**
 * What the build baked in about the native addons carried as SEA assets.
 *
 * scripts/build.mjs hashes each `.node` file once, at build time, and esbuild `define`s
 * __TETHER_SEA_NATIVES__ with the result. Outside that bundle (tsc output under plain node) the
 * identifier is not defined and {@link seaManifest} returns undefined.
 */

/** The native addon tether carries (rtnetlink runs through it too: src/netlink/rtnl.ts). */
export type NativeName = "koffi";

export interface NativeSpec {
  /** Key of the SEA asset holding the bytes. */
  readonly asset: string;
  /** sha256 of the bytes, lowercase hex, computed at build time. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
}

export type SeaManifest = Readonly<Record<NativeName, NativeSpec>>;

declare const __TETHER_SEA_NATIVES__: SeaManifest | undefined;

export function seaManifest(): SeaManifest | undefined {
  return typeof __TETHER_SEA_NATIVES__ === "undefined" ? undefined : __TETHER_SEA_NATIVES__;
}

/** Name of the cache file for a spec: content addressed, so a new build never reuses an old file. */
export function cacheFileName(name: NativeName, spec: NativeSpec): string {
  return `${name}-${spec.sha256}.node`;
}
