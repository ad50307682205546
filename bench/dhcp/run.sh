#!/usr/bin/env bash
# DHCP load benchmark of pxeproxy against dnsmasq in proxy mode (issue 2, "Performance").
#
# Runs as root. Everything happens in two network namespaces made here and joined by a veth pair
# (10.99.0.0/24): nothing reaches a real interface. Each server runs in turn in the server namespace,
# the generator (dhcpload) in the client namespace; the namespaces, servers and files go on exit.
#
# Usage: bench/dhcp/run.sh
# Environment (all optional):
#   PEERS        servers to run, in order             "pxeproxy-warn dnsmasq pxeproxy-info"
#   PXEPROXY     pxeproxy binary to measure           built from this checkout
#   PXE_TFTP     bundled TFTP server of pxeproxy      on (empty root)
#   BURST        DISCOVERs in the burst                20000
#   INFLIGHT     closed loop: requests in flight       32
#   CLOSED       closed loop: duration                 5s
#   SEQ          one-at-a-time requests                2000
#   KEEP         keep the work folder (logs, JSON results)  unset
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in ip dnsmasq go timeout; do command -v "$t" >/dev/null || die "missing $t"; done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PEERS=${PEERS:-pxeproxy-warn dnsmasq pxeproxy-info}
BURST=${BURST:-20000}
INFLIGHT=${INFLIGHT:-32}
CLOSED=${CLOSED:-5s}
SEQ=${SEQ:-2000}
PXE_TFTP=${PXE_TFTP:-on}

work=$(mktemp -d /tmp/dhcpbench.XXXXXX)
ns_s=pxbench-$$-srv
ns_c=pxbench-$$-cli
srv_pid=

cleanup() {
	local rc=$?
	if [ -n "$srv_pid" ]; then kill -KILL "$srv_pid" 2>/dev/null || true; fi
	ip netns del "$ns_s" 2>/dev/null || true
	ip netns del "$ns_c" 2>/dev/null || true
	if [ -n "${KEEP:-}" ]; then echo "run.sh: results kept in $work" >&2; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The veth pair is created directly inside the namespaces: it never exists in the host namespace.
ip netns add "$ns_s"
ip netns add "$ns_c"
ip link add pxb-s netns "$ns_s" type veth peer name pxb-c netns "$ns_c"
ip -n "$ns_s" addr add 10.99.0.1/24 dev pxb-s
ip -n "$ns_c" addr add 10.99.0.2/24 dev pxb-c
for ns in "$ns_s" "$ns_c"; do ip -n "$ns" link set lo up; done
ip -n "$ns_s" link set pxb-s up
ip -n "$ns_c" link set pxb-c up

echo "run.sh: building into $work" >&2
(cd "$repo" && go build -o "$work/dhcpload" ./bench/dhcp/dhcpload)
if [ -z "${PXEPROXY:-}" ]; then
	(cd "$repo" && go build -o "$work/pxeproxy" .)
	PXEPROXY=$work/pxeproxy
fi
mkdir -p "$work/tftp"

# start_server NAME: starts the server in the server namespace and sets srv_pid. `ip netns exec` and
# `env` exec, so the PID is the server's own (its /proc/PID/stat is what dhcpload reads).
start_server() {
	case $1 in
	pxeproxy-*)
		ip netns exec "$ns_s" env PXE_INTERFACES=pxb-s PXE_LOG_LEVEL="${1#pxeproxy-}" \
			PXE_TFTP="$PXE_TFTP" PXE_TFTP_ROOT="$work/tftp" PXE_HTTP_ADDR= \
			"$PXEPROXY" >"$work/$1.log" 2>&1 &
		;;
	dnsmasq)
		# Proxy mode, DHCP only (--port=0: no DNS), one boot service per client class as pxeproxy
		# answers them. dnsmasq logs every proxy reply (like pxeproxy at info) into /dev/null.
		ip netns exec "$ns_s" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --pid-file= \
			--interface=pxb-s --dhcp-range=10.99.0.0,proxy \
			--pxe-service=x86PC,"x",undionly --pxe-service=X86-64_EFI,"x",snponly.efi \
			--log-facility=/dev/null >"$work/$1.log" 2>&1 &
		;;
	*) die "unknown peer $1" ;;
	esac
	srv_pid=$!
}

stop_server() {
	kill -TERM "$srv_pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=
}

show=-show
for peer in $PEERS; do
	echo "run.sh: === $peer" >&2
	start_server "$peer"
	# Bounded: the generator's own limits add up to well under this.
	if ! timeout 300 ip netns exec "$ns_c" "$work/dhcpload" -name "$peer" -iface pxb-c -pid "$srv_pid" \
		-burst "$BURST" -inflight "$INFLIGHT" -closed "$CLOSED" -seq "$SEQ" $show -out "$work/$peer.json"; then
		echo "run.sh: $peer failed; its log:" >&2
		tail -20 "$work/$peer.log" >&2
		stop_server
		continue
	fi
	stop_server
	if grep -qiE 'level=(warn|error)|panic' "$work/$peer.log"; then
		echo "run.sh: $peer logged warnings or errors:" >&2
		grep -iE 'level=(warn|error)|panic' "$work/$peer.log" | head -5 >&2
	fi
done

ref=dnsmasq
[ -f "$work/$ref.json" ] || die "no result for $ref"
for peer in $PEERS; do
	[ "$peer" != "$ref" ] && [ -f "$work/$peer.json" ] || continue
	echo
	"$work/dhcpload" -table "$work/$peer.json" "$work/$ref.json"
done
