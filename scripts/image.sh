#!/usr/bin/env bash
# Builds the OCI image of the tether agent with podman, FROM scratch, offline.
#
#   scripts/image.sh [--tag NAME:TAG] [--source URL] [--no-build] [--out-dir DIR] [--print-tag]
#
# The image holds the single executable (dist/tether, built first by scripts/build.sh unless
# --no-build) as /usr/local/bin/tether, the nft binary (the agent's firewall layer runs it), exactly
# the shared libraries `ldd` lists for those two and for the natives the executable unpacks at run
# time (koffi.node), the two files nft reads (/etc/iproute2/rt_realms,
# group; it works without them but they keep its output exact), and an empty sticky /tmp where
# the natives are unpacked when the process cannot use /var/cache/tether (a non-root user).
# Everything is root-owned and world-readable, so the image also runs as a non-root user.
# Entrypoint: `tether agent`. Labels: org.opencontainers.image.{title,version,revision,source,created}.
#
# Default tag: localhost/tether:<package.json version> (the one deploy/tether.yaml names).
# --out-dir keeps the build context there (default: a temp dir, removed). --print-tag prints the
# default tag and exits.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(node -p 'require(process.argv[1]).version' "$root/package.json")"
tag="localhost/tether:$version"
source_url="${TETHER_IMAGE_SOURCE:-}"
build=1
out_dir=""

usage() { sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^#   //' >&2; exit 2; }
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "image: $1 needs a value" >&2; usage; }; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) need "$@"; tag="$2"; shift 2 ;;
    --source) need "$@"; source_url="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --out-dir) need "$@"; out_dir="$2"; shift 2 ;;
    --print-tag) echo "$tag"; exit 0 ;;
    -h|--help) usage ;;
    *) echo "image: unknown argument $1" >&2; usage ;;
  esac
done

command -v podman >/dev/null || { echo "image: podman is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
nft_bin="$(command -v nft || true)"
[[ -n "$nft_bin" ]] || nft_bin=/usr/sbin/nft
[[ -x "$nft_bin" ]] || { echo "image: nft not found (Debian package nftables)" >&2; exit 1; }

if [[ $build -eq 1 ]]; then bash "$root/scripts/build.sh" --quiet; fi
binary="$root/dist/tether"
[[ -x "$binary" ]] || { echo "image: $binary not found; run scripts/build.sh" >&2; exit 1; }

revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ -z "$source_url" ]]; then
  source_url="$(git -C "$root" remote get-url origin 2>/dev/null || true)"
fi
# No remote (a local clone): the label still says what the image was built from.
[[ -n "$source_url" ]] || source_url="tether@$revision"

if [[ -z "$out_dir" ]]; then
  ctx="$(mktemp -d /tmp/tether-image.XXXXXX)"
  trap 'rm -rf -- "$ctx"' EXIT
else
  ctx="$out_dir"
  rm -rf -- "$ctx"
  mkdir -p "$ctx"
fi
rootfs="$ctx/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/sbin" "$rootfs/etc/iproute2" "$rootfs/tmp" "$rootfs/var/cache"
chmod 1777 "$rootfs/tmp"

install -m 0755 "$binary" "$rootfs/usr/local/bin/tether"
install -m 0755 "$nft_bin" "$rootfs/usr/sbin/nft"
for f in /etc/iproute2/rt_realms /etc/iproute2/group; do
  if [[ -f "$f" ]]; then install -m 0644 "$f" "$rootfs$f"; fi
done

# The natives are SEA assets of the executable; ldd them from the packages they came from.
elves=("$binary" "$nft_bin")
for n in node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node; do
  [[ -f "$root/$n" ]] && elves+=("$root/$n")
done

# Each library at the path ldd resolved it to (the loader's default search path finds it there:
# the image has no /etc/ld.so.cache), the file itself, not the symlink chain.
declare -A libs=()
for elf in "${elves[@]}"; do
  while read -r line; do
    path=""
    if [[ "$line" == *"=> /"* ]]; then
      path="${line#*=> }"; path="${path%% (*}"
    elif [[ "$line" == /* ]]; then
      path="${line%% (*}"
    fi
    [[ -n "$path" ]] && libs["$path"]=1
  done < <(ldd "$elf")
done
for lib in "${!libs[@]}"; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L --preserve=mode "$lib" "$rootfs$lib"
  chmod a+rX,go-w "$rootfs$lib"
done

# Same inputs as the image the tag names already: keep it (no rebuild, no dangling copy).
context_sum="$(cd "$ctx" && {
  find rootfs -printf '%p %m %l\n' | LC_ALL=C sort
  find rootfs -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  echo "$version $revision $source_url"
} | sha256sum | cut -d' ' -f1)"
old_id="$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
if [[ -n "$old_id" && "$(podman image inspect --format '{{index .Labels "org.tether.context-sha256"}}' "$tag")" == "$context_sum" ]]; then
  echo "image: $tag is up to date" >&2
  echo "$tag"
  exit 0
fi

cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.title="tether" \\
      org.opencontainers.image.description="tether CNI plugin and node agent" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.revision="$revision" \\
      org.opencontainers.image.source="$source_url" \\
      org.opencontainers.image.licenses="Apache-2.0" \\
      org.opencontainers.image.created="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\
      org.tether.context-sha256="$context_sum"
ENV PATH=/usr/local/bin:/usr/sbin
ENTRYPOINT ["/usr/local/bin/tether", "agent"]
EOF

echo "image: building $tag from $ctx (${#libs[@]} libraries)" >&2
podman build --pull=never --network=none --layers=false -q -t "$tag" -f "$ctx/Containerfile" "$ctx" >&2
# The image the tag named before is untagged now: removed, unless a container still uses it.
if [[ -n "$old_id" && "$old_id" != "$(podman image inspect --format '{{.Id}}' "$tag")" ]]; then
  podman rmi "$old_id" >/dev/null 2>&1 || true
fi
size="$(podman image inspect --format '{{.Size}}' "$tag")"
echo "image: $tag, $((size / 1024 / 1024)) MiB" >&2
echo "$tag"
