#!/usr/bin/env bash
# DHCP load benchmark of pxeproxy against dnsmasq in proxy mode (issue 2, "Performance").
#
# Runs as root. Everything happens in network namespaces made here: one client namespace for the
# generator (dhcpload) and one server namespace per peer, each joined to the client by its own veth
# pair (10.99.N.0/24); nothing reaches a real interface. All peers run at once: the one-at-a-time
# latency phase asks them in turn request by request, so their tails see the same machine noise; the
# throughput phases (closed loop, burst) run one peer at a time. Namespaces, servers and files go on
# exit.
#
# Usage: bench/dhcp/run.sh
# Environment (all optional):
#   PEERS        servers, each pxeproxy-LEVEL, alt-LEVEL or dnsmasq  "pxeproxy-warn dnsmasq pxeproxy-info"
#   PXEPROXY     pxeproxy binary to measure               built from this checkout
#   PXEPROXY_ALT second pxeproxy binary for alt-LEVEL peers (a candidate change, side by side)
#   PXE_TFTP     bundled TFTP server of pxeproxy          on (empty root)
#   PXE_HTTP_ADDR  pxeproxy's HTTP listener (metrics), inside its namespace  empty (off)
#   BURST        DISCOVERs in the burst                    20000
#   INFLIGHT     closed loop: requests in flight           32
#   CLOSED       closed loop: duration                     5s
#   SEQ          one-at-a-time requests per peer           10000
#   PROFILE      folder: measure a copy of the checkout with a net/http/pprof hook (127.0.0.1:6060 inside
#                each server namespace) and save each pxeproxy peer's CPU profile (PROFILE_SECS, 40 s,
#                from start) and allocation profile there. The figures of such a run include the
#                profiler: use them for the profiles only.
#   KEEP         keep the work folder (logs, JSON results)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_root
need ip dnsmasq go timeout

PEERS=${PEERS:-pxeproxy-warn dnsmasq pxeproxy-info}
BURST=${BURST:-20000}
INFLIGHT=${INFLIGHT:-32}
CLOSED=${CLOSED:-5s}
SEQ=${SEQ:-10000}
PXE_TFTP=${PXE_TFTP:-on}
PXE_HTTP_ADDR=${PXE_HTTP_ADDR:-}

workdir dhcpbench
ns_c=pxbench-$$-cli

echo "run.sh: building into $work" >&2
(cd "$repo" && go build -o "$work/dhcpload" ./bench/dhcp/dhcpload)
pprof_addr=
if [ -n "${PROFILE:-}" ]; then
	mkdir -p "$PROFILE"
	PROFILE=$(cd "$PROFILE" && pwd)
	mkdir "$work/src"
	tar -C "$repo" --exclude=.git -cf - . | tar -C "$work/src" -xf -
	cat >"$work/src/zz_bench_pprof.go" <<'EOF'
package main

// Added by bench/dhcp/run.sh to a temporary copy for a profile run; never part of pxeproxy.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if a := os.Getenv("PXE_BENCH_PPROF"); a != "" {
		go func() { _ = http.ListenAndServe(a, nil) }()
	}
}
EOF
	(cd "$work/src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/pxeproxy" .)
	PXEPROXY=$work/pxeproxy
	pprof_addr=127.0.0.1:6060
elif [ -z "${PXEPROXY:-}" ]; then
	# The release build, as the container image and scripts/run.sh make it:
	# static (no libc mapped: 1.4 MiB less resident) and stripped.
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/pxeproxy" .)
	PXEPROXY=$work/pxeproxy
fi
mkdir -p "$work/tftp"

netns "$ns_c"

# One namespace per peer; the veth pair is created directly inside the namespaces, so it never
# exists in the host namespace. `ip netns exec` and `env` exec, so $! is the server's own PID (its
# /proc/PID/stat is what dhcpload reads).
targets=()
i=0
for peer in $PEERS; do
	ns=pxbench-$$-s$i
	netns "$ns"
	veth "$ns" pxs$i "$ns_c" pxc$i
	ip -n "$ns" addr add 10.99.$i.1/24 dev pxs$i
	ip -n "$ns_c" addr add 10.99.$i.2/24 dev pxc$i
	case $peer in
	pxeproxy-* | alt-*)
		bin=$PXEPROXY
		if [ "${peer%%-*}" = alt ]; then bin=${PXEPROXY_ALT:?alt peers need PXEPROXY_ALT}; fi
		ip netns exec "$ns" env PXE_INTERFACES=pxs$i PXE_LOG_LEVEL="${peer#*-}" \
			PXE_TFTP="$PXE_TFTP" PXE_TFTP_ROOT="$work/tftp" PXE_HTTP_ADDR="$PXE_HTTP_ADDR" PXE_BENCH_PPROF="$pprof_addr" \
			"$bin" >"$work/$peer.log" 2>&1 &
		;;
	dnsmasq)
		# Proxy mode, DHCP only (--port=0: no DNS), one boot service per client class as pxeproxy
		# answers them. dnsmasq formats a log line per proxy reply (as pxeproxy does at info) and
		# writes it to /dev/null (--no-daemon would also copy every line to stderr).
		ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --pid-file= \
			--interface=pxs$i --dhcp-range=10.99.$i.0,proxy \
			--pxe-service=x86PC,"x",undionly --pxe-service=X86-64_EFI,"x",snponly.efi \
			--log-facility=/dev/null >"$work/$peer.log" 2>&1 &
		;;
	*) die "unknown peer $peer (want pxeproxy-LEVEL or dnsmasq)" ;;
	esac
	track $!
	targets+=(-target "$peer,pxc$i,$!")
	i=$((i + 1))
done

prof=()
if [ -n "$pprof_addr" ]; then
	sleep 0.5 # the hook's listener starts with the process
	i=0
	for peer in $PEERS; do
		if [ "${peer%%-*}" = pxeproxy ]; then
			ip netns exec "pxbench-$$-s$i" curl -sf -o "$PROFILE/$peer.cpu.pprof" \
				"http://$pprof_addr/debug/pprof/profile?seconds=${PROFILE_SECS:-40}" &
			prof+=($!)
			track $!
		fi
		i=$((i + 1))
	done
fi

# Bounded: the generator's own limits add up to well under this.
timeout 600 ip netns exec "$ns_c" "$work/dhcpload" "${targets[@]}" -burst "$BURST" -inflight "$INFLIGHT" \
	-closed "$CLOSED" -seq "$SEQ" -show -out "$work" || die "generator failed; logs in $work (KEEP=1 keeps them)"

if [ -n "$pprof_addr" ]; then
	for p in "${prof[@]}"; do wait "$p" || echo "run.sh: a cpu profile failed" >&2; done
	i=0
	for peer in $PEERS; do
		if [ "${peer%%-*}" = pxeproxy ]; then
			ip netns exec "pxbench-$$-s$i" curl -sf -o "$PROFILE/$peer.allocs.pprof" \
				"http://$pprof_addr/debug/pprof/allocs" || echo "run.sh: allocation profile of $peer failed" >&2
		fi
		i=$((i + 1))
	done
	echo "run.sh: profiles in $PROFILE (go tool pprof -top FILE)" >&2
fi

# Stop the servers (SIGTERM, then SIGKILL after 5 s) and look at their logs.
stop_pids "${bench_pids[@]}"
for peer in $PEERS; do
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
