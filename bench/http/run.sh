#!/usr/bin/env bash
# HTTP vs TFTP download benchmark for one big boot image (issue 6, item 2).
#
# Serves one file (SIZE_MIB, default 256 MiB of random bytes) from pxeproxy's httpd and tftpd engines
# (bench/http/httpbootserve, both on the same root, on 127.0.0.1 with ports picked by the kernel) and
# fetches it ROUNDS times (default 3) with each client, the three clients taking turns inside every
# round so they share the same machine noise:
#   http     curl http://                                            (our httpd, sendfile)
#   tftp     curl tftp:// --tftp-blksize 1468                         (RFC 1350 lock-step, 1 block per ACK)
#   tftp-w16 atftp --option "windowsize 16" --option "blksize 1468"  (RFC 7440, 16 blocks per ACK)
# Every download is compared byte for byte with the source, and the server log must show the
# negotiated blksize/windowsize of each TFTP run, so a silently failed negotiation cannot pass as a
# figure. Prints the median of each client in MB/s (10^6 bytes/s) and HTTP's ratio to each TFTP mode.
#
# Loopback only: no DHCP, nothing leaves the host; no root needed. Each fetch is bounded by TIMEOUT
# seconds (default 300); the server and the work folder are removed on exit, also on failure.
#
# Usage: bench/http/run.sh
# Environment: SIZE_MIB (256), ROUNDS (3), TIMEOUT (300), KEEP=1 keeps the work folder (server log).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need go curl atftp cmp timeout awk

SIZE_MIB=${SIZE_MIB:-256}
ROUNDS=${ROUNDS:-3}
TIMEOUT=${TIMEOUT:-300}
name=big.wim

workdir httpbench tmpfs

echo "run.sh: building into $work" >&2
(cd "$repo" && go build -o "$work/httpbootserve" ./bench/http/httpbootserve)
mkdir -p "$work/root"
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$work/root/$name"
size=$(stat -c %s "$work/root/$name")

"$work/httpbootserve" -root "$work/root" -ready "$work/ready" -log info 2>"$work/server.log" &
srv_pid=$!
track "$srv_pid"
for _ in $(seq 100); do
	[ -s "$work/ready" ] && break
	kill -0 "$srv_pid" 2>/dev/null || die "server exited: $(cat "$work/server.log")"
	sleep 0.1
done
[ -s "$work/ready" ] || die "server not ready after 10 s"
http_addr=$(sed -n 's/^http=//p' "$work/ready")
tftp_addr=$(sed -n 's/^tftp=//p' "$work/ready")
echo "run.sh: http $http_addr, tftp $tftp_addr, $SIZE_MIB MiB, $ROUNDS rounds" >&2

clients=(http tftp tftp-w16)
fetch() { # client outfile
	case $1 in
	http) timeout "$TIMEOUT" curl -sS --fail -o "$2" "http://$http_addr/$name" ;;
	tftp) timeout "$TIMEOUT" curl -sS --tftp-blksize 1468 -o "$2" "tftp://$tftp_addr/$name" ;;
	tftp-w16) timeout "$TIMEOUT" atftp --option "windowsize 16" --option "blksize 1468" \
		-g -r "$name" -l "$2" "${tftp_addr%:*}" "${tftp_addr##*:}" >>"$work/atftp.log" 2>&1 ;;
	esac
}

declare -A secs
for r in $(seq "$ROUNDS"); do
	for c in "${clients[@]}"; do
		out="$work/out"
		t0=$(date +%s%N)
		fetch "$c" "$out" || die "$c round $r: fetch failed (KEEP=1 keeps server.log and atftp.log)"
		t1=$(date +%s%N)
		cmp -s "$work/root/$name" "$out" || die "$c round $r: download differs from the source"
		rm -f "$out"
		s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
		secs[$c]="${secs[$c]:-} $s"
		echo "run.sh: round $r $c ${s}s" >&2
	done
done

# The server's own account of each TFTP transfer: lock-step and windowed
# runs must each show up ROUNDS times with the expected negotiation.
lock=$(grep -c "msg=\"tftp transfer\".*bytes=$size .*blksize=1468 windowsize=1 " "$work/server.log" || true)
win=$(grep -c "msg=\"tftp transfer\".*bytes=$size .*blksize=1468 windowsize=16 " "$work/server.log" || true)
[ "$lock" = "$ROUNDS" ] || die "server log shows $lock lock-step transfers of blksize 1468, want $ROUNDS"
[ "$win" = "$ROUNDS" ] || die "server log shows $win windowsize 16 transfers, want $ROUNDS (atftp did not negotiate?)"

declare -A med mbs
for c in "${clients[@]}"; do
	med[$c]=$(echo "${secs[$c]}" | tr ' ' '\n' | median)
	mbs[$c]=$(awk -v n="$size" -v s="${med[$c]}" 'BEGIN { printf "%.1f", n / s / 1e6 }')
done
echo
echo "$SIZE_MIB MiB over loopback, median of $ROUNDS ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo
echo "| client | runs (s) | median (s) | MB/s | HTTP is faster by |"
echo "|---|---|---|---|---|"
for c in "${clients[@]}"; do
	ratio=$(awk -v a="${med[$c]}" -v b="${med[http]}" 'BEGIN { printf "%.1fx", a / b }')
	[ "$c" = http ] && ratio="-"
	echo "| $c | $(echo "${secs[$c]}" | sed 's/^ //') | ${med[$c]} | ${mbs[$c]} | $ratio |"
done
