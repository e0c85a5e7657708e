#!/usr/bin/env bash
# The main job: build dist/tether and show it attaching two demo containers end to end, inside an
# isolated "node" namespace (the root namespace is never touched). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it creates network namespaces)" >&2
  exit 1
fi
bash scripts/setup.sh
bash scripts/build.sh

tag="tether-demo-$$"
node_ns="$tag-node"
c1="$tag-c1"
c2="$tag-c2"
data=$(mktemp -d /tmp/tether-demo.XXXXXX)
conf="$root/conf/bridge-dual-stack.conflist"

cleanup() {
  for ns in "$c1" "$c2" "$node_ns"; do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT

# The plugin's stdin: the conflist's first plugin with name and cniVersion injected (as libcni does),
# and the demo's own IPAM directory so the machine's /var/lib/cni stays untouched.
plugin_conf() {
  node -e '
    const [file, dataDir, prev] = process.argv.slice(1);
    const list = JSON.parse(require("fs").readFileSync(file, "utf8"));
    const p = { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion };
    p.ipam = { ...p.ipam, dataDir };
    if (prev) p.prevResult = JSON.parse(prev);
    process.stdout.write(JSON.stringify(p));
  ' "$conf" "$data" "${1:-}"
}

# Run tether in the node namespace with only PATH and CNI_* in its environment, as a runtime does.
cni() { # cni COMMAND CONTAINER-NS [prevResult]
  plugin_conf "${3:-}" | ip netns exec "$node_ns" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    CNI_COMMAND="$1" CNI_CONTAINERID="demo-$2" CNI_NETNS="/var/run/netns/$2" CNI_IFNAME=eth0 \
    CNI_PATH="$root/dist" "$root/dist/tether"
}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "namespaces: node $node_ns, containers $c1 and $c2"
ip netns add "$node_ns"
ip netns add "$c1"
ip netns add "$c2"
ip -n "$node_ns" link set lo up

step "ADD $c1 (config: conf/bridge-dual-stack.conflist)"
r1=$(cni ADD "$c1")
echo "$r1" | node -e 'process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(0,"utf8")),null,2)+"\n")'
step "ADD $c2"
r2=$(cni ADD "$c2")
echo "$r2"

ip1=$(echo "$r1" | node -pe 'JSON.parse(require("fs").readFileSync(0,"utf8")).ips.find(i=>!i.address.includes(":")).address.split("/")[0]')
ip2=$(echo "$r2" | node -pe 'JSON.parse(require("fs").readFileSync(0,"utf8")).ips.find(i=>!i.address.includes(":")).address.split("/")[0]')
ip2v6=$(echo "$r2" | node -pe 'JSON.parse(require("fs").readFileSync(0,"utf8")).ips.find(i=>i.address.includes(":")).address.split("/")[0]')
gw4=$(echo "$r1" | node -pe 'JSON.parse(require("fs").readFileSync(0,"utf8")).ips.find(i=>!i.address.includes(":")).gateway')
gw6=$(echo "$r1" | node -pe 'JSON.parse(require("fs").readFileSync(0,"utf8")).ips.find(i=>i.address.includes(":")).gateway')

# iproute2 prints "Peer netns reference is invalid" for a veth whose peer is in a namespace that
# has no id here (the container's, seen from the node, and back): noise, not an error.
show() { ip "$@" 2> >(grep -v "Peer netns reference is invalid" >&2); }

for c in "$c1" "$c2"; do
  step "$c: addresses and routes"
  show -n "$c" -br addr show dev eth0
  ip -n "$c" route
  ip -n "$c" -6 route show dev eth0
done
step "node: bridge tether0 and its ports"
show -n "$node_ns" -br addr show dev tether0
show -n "$node_ns" -br link show master tether0

step "ping $c1 -> $c2 ($ip2, $ip2v6) and -> gateway ($gw4, $gw6)"
ip netns exec "$c1" ping -c 2 -W 2 -q "$ip2"
ip netns exec "$c1" ping -6 -c 2 -W 2 -q "$ip2v6"
ip netns exec "$c1" ping -c 1 -W 2 -q "$gw4"
ip netns exec "$c1" ping -6 -c 1 -W 2 -q "$gw6"

step "CHECK both"
cni CHECK "$c1" "$r1" && echo "CHECK $c1: ok"
cni CHECK "$c2" "$r2" && echo "CHECK $c2: ok"

step "DEL both (and once more: DEL is idempotent)"
cni DEL "$c1" "$r1" && cni DEL "$c2" "$r2" && cni DEL "$c1" "$r1" && echo "DEL: ok"
# host-local's layout: one file per reserved address in <dataDir>/<network>/, beside lock and last_reserved_ip.N
left=$(find "$data/tether-dual" -maxdepth 1 -type f ! -name lock ! -name 'last_reserved_ip.*' | wc -l)
echo "IPAM reservations left: $left"
ip -n "$c1" -br link show eth0 2>/dev/null && { echo "eth0 still in $c1" >&2; exit 1; }
[ "$left" -eq 0 ] || { echo "reservations leaked" >&2; exit 1; }

step "demo complete: everything it created is removed on exit"
