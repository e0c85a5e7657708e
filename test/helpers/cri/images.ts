/**
 * Container images made locally, as docker-archive tarballs (`ctr image import` reads them):
 * - a pause image: Debian's static `catatonit` as /pause, run in pause mode (-P);
 * - an app image: Debian's static busybox as /bin/busybox (commands are run as `/bin/busybox <applet>`).
 * One layer each, built with GNU tar in a temporary directory.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const PAUSE_BINARY = "/usr/bin/catatonit";
export const BUSYBOX_BINARY = "/bin/busybox";
export const PAUSE_IMAGE = "localhost/tether-test/pause:1";
export const APP_IMAGE = "localhost/tether-test/busybox:1";

function tar(args: string[]): void {
  const r = spawnSync("tar", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar ${args.join(" ")}: ${r.stderr || r.error?.message}`);
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** A docker-archive of one layer made from `rootfs`; returns the tarball's path. */
function dockerArchive(work: string, name: string, tag: string, rootfs: string, config: Record<string, unknown>): string {
  const dir = join(work, `${name}-archive`);
  mkdirSync(dir, { recursive: true });
  tar(["--numeric-owner", "--owner=0", "--group=0", "--sort=name", "-C", rootfs, "-cf", join(dir, "layer.tar"), "."]);
  const diffId = `sha256:${sha256(readFileSync(join(dir, "layer.tar")))}`;
  const imageConfig = Buffer.from(
    JSON.stringify({
      architecture: process.arch === "x64" ? "amd64" : process.arch,
      os: "linux",
      config,
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created_by: "tether test helper" }],
    }),
  );
  const configName = `${sha256(imageConfig)}.json`;
  writeFileSync(join(dir, configName), imageConfig);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: ["layer.tar"] }]));
  const out = join(work, `${name}.tar`);
  tar(["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-cf", out, "manifest.json", configName, "layer.tar"]);
  return out;
}

export interface TestImages {
  pause: string;
  app: string;
}

/** Why the images cannot be made here, or undefined. */
export function imagesUnavailable(): string | undefined {
  const missing = [PAUSE_BINARY, BUSYBOX_BINARY].filter((p) => !existsSync(p));
  if (missing.length > 0) return `missing ${missing.join(", ")} (Debian packages catatonit, busybox-static)`;
  // each goes into an image alone: it must need no shared library
  const dynamic = [PAUSE_BINARY, BUSYBOX_BINARY].filter((p) => spawnSync("ldd", [p]).status === 0);
  return dynamic.length > 0 ? `${dynamic.join(", ")} not statically linked (Debian packages catatonit, busybox-static)` : undefined;
}

export function buildImages(work: string): TestImages {
  const pauseRoot = join(work, "pause-rootfs");
  mkdirSync(pauseRoot, { recursive: true });
  copyFileSync(PAUSE_BINARY, join(pauseRoot, "pause"));
  const pause = dockerArchive(work, "pause", PAUSE_IMAGE, pauseRoot, { Entrypoint: ["/pause", "-P"] });

  const appRoot = join(work, "app-rootfs");
  for (const d of ["bin", "tmp", "etc"]) mkdirSync(join(appRoot, d), { recursive: true });
  copyFileSync(BUSYBOX_BINARY, join(appRoot, "bin", "busybox"));
  symlinkSync("busybox", join(appRoot, "bin", "sh"));
  const app = dockerArchive(work, "app", APP_IMAGE, appRoot, { Cmd: ["/bin/busybox", "sleep", "3600"] });
  return { pause, app };
}
