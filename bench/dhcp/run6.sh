#!/usr/bin/env bash
# DHCPv6 SOLICIT load on the IPv6 ProxyDHCP (package proxy6) next to the same load over IPv4 on
# pxeproxy (issue 18, "Performance": no IPv6 peer exists in proxy mode, so the reference is our own
# IPv4 path).
#
# Runs as root. Everything happens in network namespaces made here: one client namespace for the
# generator (dhcpload) and two server namespaces, each joined to the client by its own veth pair:
# pxeproxy on 10.99.0.0/24 (IPv4), proxy6srv on 2001:db8:99:1::/64 and link-local (IPv6). Nothing
# reaches a real interface. The two runs alternate ROUNDS times, one server at a time; each prints
# its phases, then the table compares the last IPv6 run with the last IPv4 run (the "target" column
# is issue 2's, written for pxeproxy against dnsmasq: ignore it here).
#
# Usage: bench/dhcp/run6.sh
# Environment (all optional):
#   ROUNDS    IPv4 and IPv6 runs, alternating                 1
#   BURST     requests in the burst                           20000
#   INFLIGHT  closed loop: requests in flight                 32
#   CLOSED    closed loop: duration                           5s
#   LEVEL     log level of both servers                       warn
#   KEEP      keep the work folder (logs, JSON results)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_root
need ip go timeout sysctl

ROUNDS=${ROUNDS:-1}
BURST=${BURST:-20000}
INFLIGHT=${INFLIGHT:-32}
CLOSED=${CLOSED:-5s}
LEVEL=${LEVEL:-warn}

workdir dhcp6bench
ns_c=px6bench-$$-cli
ns4=px6bench-$$-s4
ns6=px6bench-$$-s6

echo "run6.sh: building into $work" >&2
(cd "$repo" && go build -o "$work/dhcpload" ./bench/dhcp/dhcpload)
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/pxeproxy" .)
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/proxy6srv" ./bench/dhcp/proxy6srv)
mkdir -p "$work/tftp"

for ns in "$ns_c" "$ns4" "$ns6"; do
	netns "$ns"
	# No duplicate address detection: a tentative address can neither send nor receive, and the
	# links are private to this run.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
# The veth pairs are created directly inside the namespaces, with their defaults.
veth "$ns4" pxs0 "$ns_c" pxc0
ip -n "$ns4" addr add 10.99.0.1/24 dev pxs0
ip -n "$ns_c" addr add 10.99.0.2/24 dev pxc0
veth "$ns6" pxs1 "$ns_c" pxc1
ip -n "$ns6" addr add 2001:db8:99:1::1/64 dev pxs1
ip -n "$ns_c" addr add 2001:db8:99:1::2/64 dev pxc1

# `ip netns exec` and `env` exec, so $! is the server's own PID (dhcpload reads /proc/PID/stat).
ip netns exec "$ns4" env PXE_INTERFACES=pxs0 PXE_LOG_LEVEL="$LEVEL" PXE_TFTP=on PXE_TFTP_ROOT="$work/tftp" \
	"$work/pxeproxy" >"$work/pxeproxy.log" 2>&1 &
pid4=$!
track "$pid4"
ip netns exec "$ns6" "$work/proxy6srv" -interfaces pxs1 -level "$LEVEL" >"$work/proxy6.log" 2>&1 &
pid6=$!
track "$pid6"

common=(-burst "$BURST" -inflight "$INFLIGHT" -closed "$CLOSED" -seq 0)
for r in $(seq "$ROUNDS"); do
	echo "run6.sh: round $r of $ROUNDS" >&2
	# Bounded: the generator's own limits add up to well under this.
	timeout 300 ip netns exec "$ns_c" "$work/dhcpload" -target "pxeproxy-ipv4,pxc0,$pid4" "${common[@]}" -out "$work" ||
		die "IPv4 generator failed; logs in $work (KEEP=1 keeps them)"
	timeout 300 ip netns exec "$ns_c" "$work/dhcpload" -v6 -target "proxy6-ipv6,pxc1,$pid6" "${common[@]}" -out "$work" ||
		die "IPv6 generator failed; logs in $work (KEEP=1 keeps them)"
done

stop_pids "$pid4" "$pid6"
for l in pxeproxy proxy6; do
	if grep -qiE 'level=(warn|error)|panic' "$work/$l.log"; then
		echo "run6.sh: $l logged warnings or errors:" >&2
		grep -iE 'level=(warn|error)|panic' "$work/$l.log" | head -5 >&2
	fi
done
echo
"$work/dhcpload" -table "$work/proxy6-ipv6.json" "$work/pxeproxy-ipv4.json"
