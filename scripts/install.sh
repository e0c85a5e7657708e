#!/usr/bin/env bash
# Installs the single executable as a CNI plugin.
#
#   scripts/install.sh [--bin-dir /opt/cni/bin] [--conf-dir DIR] [--force-conf] [--binary FILE]
#
# Copies dist/tether (or --binary) to BIN_DIR/tether atomically: a temp file in BIN_DIR, synced,
# then renamed over the old one, so a runtime never execs a half-written plugin. Points the
# BIN_DIR/tether-ipam symlink at it (replaced atomically too). With --conf-dir, also writes the
# example conf/10-tether.conflist there (atomically); an existing, different file of that name is
# kept unless --force-conf. Without --conf-dir no configuration is touched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bin_dir=/opt/cni/bin
conf_dir=""
force_conf=0
binary="$root/dist/tether"
conflist="$root/conf/10-tether.conflist"

usage() { sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^#   //' >&2; exit 2; }
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "install: $1 needs a value" >&2; usage; }; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) need "$@"; bin_dir="$2"; shift 2 ;;
    --conf-dir) need "$@"; conf_dir="$2"; shift 2 ;;
    --force-conf) force_conf=1; shift ;;
    --binary) need "$@"; binary="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "install: unknown argument $1" >&2; usage ;;
  esac
done

if [[ ! -f "$binary" ]]; then
  echo "install: $binary not found; run scripts/build.sh first" >&2
  exit 1
fi

tmp_files=()
cleanup() { [[ ${#tmp_files[@]} -eq 0 ]] || rm -f -- "${tmp_files[@]}"; }
trap cleanup EXIT

# install_atomic SRC DEST MODE: copy to a temp file beside DEST, fsync, rename over DEST.
install_atomic() {
  local src="$1" dest="$2" mode="$3" tmp
  tmp="$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")"
  tmp_files+=("$tmp")
  cp -- "$src" "$tmp"
  chmod "$mode" "$tmp"
  sync -- "$tmp"
  mv -f -T -- "$tmp" "$dest"
}

mkdir -p -- "$bin_dir"
install_atomic "$binary" "$bin_dir/tether" 0755

# tether-ipam -> tether, replaced by rename so it never dangles or goes missing.
link_tmp="$bin_dir/.tether-ipam.$$.tmp"
tmp_files+=("$link_tmp")
ln -sfn tether "$link_tmp"
mv -f -T -- "$link_tmp" "$bin_dir/tether-ipam"
echo "install: $bin_dir/tether, $bin_dir/tether-ipam -> tether" >&2

if [[ -n "$conf_dir" ]]; then
  mkdir -p -- "$conf_dir"
  dest="$conf_dir/$(basename "$conflist")"
  if [[ -e "$dest" && $force_conf -eq 0 ]] && ! cmp -s -- "$conflist" "$dest"; then
    echo "install: kept the existing $dest (differs from the example; --force-conf replaces it)" >&2
  else
    install_atomic "$conflist" "$dest" 0644
    echo "install: $dest" >&2
  fi
fi
