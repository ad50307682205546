#!/usr/bin/env bash
# Benchmark pxeproxy's tftpd against tftpd-hpa, atftpd, dnsmasq and pin/tftp.
#
# Two network namespaces joined by a veth pair (servers on 10.199.0.10, .11,
# ... in one, the clients on 10.199.0.2 in the other); nothing touches the
# host's interfaces. All servers run at once, each on its own address, and
# serve the same file; the runs go round them (run 1 of each scenario on
# every server, then run 2, ...). Two kinds of client: curl and atftp, which
# acknowledge within microseconds because they run on the same machine, and
# fwclient (fwclient/fwclient.c, built with gcc), which waits FW_DELAY_US
# (200) before each ACK as PXE firmware behind a real LAN does. Scenarios:
#   one_curl    one curl, lock-step at blksize 1468 (SIZE_MB file)
#   one_atftp   one atftp, windowsize 16 at 1468 (SIZE_MB file)
#   few_curl    FEW (4) concurrent curls at 1468 (CONC_MB file each)
#   many_curl   CLIENTS (32) concurrent curls at 1468
#   many_atftp  CLIENTS atftp at windowsize 4 (what EDK2 asks for) at 1468
#   one_fw, few_fw, many_fw  1, FEW, CLIENTS fwclients at 1468, windowsize
#               FW_WINDOW (1: lock-step, as BIOS PXE ROMs and iPXE)
#   one_fwm, few_fwm, many_fwm  the same asking also for Microsoft's
#               variable window (fwclient -m FW_MSFT), as the Windows boot
#               manager does; servers that do not grant it keep FW_WINDOW
# `floor` (floor/floor.c, needs gcc) is a yardstick, not a peer: a C thread
# per transfer answering each ACK with zeros from memory, lock-step only.
# MB/s is 10^6 bytes per second, the median of RUNS runs; peak RSS is the
# largest of the main process's VmHWM and the sampled RSS sum of it and its
# children (tftpd-hpa forks per transfer). "server CPU s" is the server's
# user+system time over all its runs (children included), a figure less
# sensitive to other load on the machine than MB/s; each scenario's line
# gives the server's CPU over its runs too. The first run of each scenario
# checks the sha256.
#
# Usage (root): bench/tftp/run.sh
# Env: RUNS (3), CLIENTS (32), FEW (4), SIZE_MB (64), CONC_MB (size of the
# file the concurrent clients fetch; default SIZE_MB), FW_DELAY_US (200),
# FW_WINDOW (1), FW_MSFT (64: the largest variable window fwclient asks
# for; pxeproxy sends up to PXE_TFTP_WINDOWSIZE_MAX, 64),
# SERVERS ("pxeproxy tftpd-hpa atftpd dnsmasq pin"),
# SCENARIOS ("one_curl one_atftp many_curl many_atftp"; any of the above),
# HPA_TFTPD (path of tftpd-hpa's in.tftpd; Debian's atftpd package takes
# /usr/sbin/in.tftpd, so extract tftpd-hpa instead: apt-get download
# tftpd-hpa && dpkg-deb -x tftpd-hpa_*.deb /opt/tftpd-hpa; default:
# /opt/tftpd-hpa/usr/sbin/in.tftpd if present, else /usr/sbin/in.tftpd).
# TFTPDSERVE: the pxeproxy binary (default: tftpdserve built from this
# checkout). alt, alt2, ... alt9 in SERVERS: more tftpdserve binaries,
# TFTPDSERVE_ALT, TFTPDSERVE_ALT2, ... (candidate changes side by side; not
# peers); the summary then gives each pair of them round by round for every
# scenario. GOMAXPROCS and GODEBUG pass through to tftpdserve;
# TFTPDSERVE_FLAGS are added to every tftpdserve command line.
# MAX_SECONDS (3600) bounds the whole run: past it, no new round starts.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_root
need curl atftp atftpd dnsmasq ip go sha256sum
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-32}
FEW=${FEW:-4}
FW_DELAY_US=${FW_DELAY_US:-200}
FW_WINDOW=${FW_WINDOW:-1}
FW_MSFT=${FW_MSFT:-64}
MAX_SECONDS=${MAX_SECONDS:-3600}
SIZE_MB=${SIZE_MB:-64}
CONC_MB=${CONC_MB:-$SIZE_MB}
SERVERS=${SERVERS:-"pxeproxy tftpd-hpa atftpd dnsmasq pin"}
SCENARIOS=${SCENARIOS:-"one_curl one_atftp many_curl many_atftp"}
here=$(cd "$(dirname "$0")" && pwd)

workdir tftpbench
NS_S=tftpb-s-$$ NS_C=tftpb-c-$$
# Every server runs from the start, each on its own address (10.199.0.10,
# .11, ...), and the runs go round the servers (see the main loop).
declare -A IP PID

# The unpacked copy at /opt/tftpd-hpa (see the header) when it is there.
hpa_default=/usr/sbin/in.tftpd
[[ -x /opt/tftpd-hpa/usr/sbin/in.tftpd ]] && hpa_default=/opt/tftpd-hpa/usr/sbin/in.tftpd
HPA_TFTPD=${HPA_TFTPD:-$hpa_default}
if [[ " $SERVERS " == *" tftpd-hpa "* ]] && ! "$HPA_TFTPD" -V 2>&1 | grep -q tftp-hpa; then
	echo "run.sh: $HPA_TFTPD is not tftpd-hpa; set HPA_TFTPD (see the header)" >&2
	exit 1
fi

echo "building servers..." >&2
mkdir -p "$work/bin" "$work/root"
if [[ -n ${TFTPDSERVE:-} ]]; then
	cp "$TFTPDSERVE" "$work/bin/tftpdserve"
else
	(cd "$repo" && go build -o "$work/bin/tftpdserve" ./bench/tftp/tftpdserve)
fi
[[ " $SERVERS " == *" pin "* ]] && (cd "$repo" && go build -o "$work/bin/pinserve" ./bench/tftp/pinserve)
if [[ " $SERVERS " == *" floor "* ]]; then
	command -v gcc >/dev/null || { echo "run.sh: the floor yardstick needs gcc" >&2; exit 1; }
	gcc -O2 -pthread -o "$work/bin/floor" "$here/floor/floor.c"
fi
if [[ " $SCENARIOS " == *_fw* ]]; then
	command -v gcc >/dev/null || { echo "run.sh: fwclient needs gcc" >&2; exit 1; }
	gcc -O2 -o "$work/bin/fwclient" "$here/fwclient/fwclient.c"
fi
head -c $((SIZE_MB << 20)) /dev/urandom >"$work/root/big.bin"
if [[ $CONC_MB == "$SIZE_MB" ]]; then
	ln "$work/root/big.bin" "$work/root/conc.bin"
else
	head -c $((CONC_MB << 20)) /dev/urandom >"$work/root/conc.bin"
fi
echo probe >"$work/root/probe.txt"
chmod 755 "$work" "$work/root"
chmod 644 "$work/root/"*
want=$(sha256sum <"$work/root/big.bin" | cut -d' ' -f1)
want_conc=$(sha256sum <"$work/root/conc.bin" | cut -d' ' -f1)
size=$(stat -c %s "$work/root/big.bin")
csize=$(stat -c %s "$work/root/conc.bin")

server_link "$NS_S" tb-s$$ "$NS_C" tb-c$$ 10.199.0 $SERVERS
inc() { ip netns exec "$NS_C" "$@"; }

start_server() { # name
	local root=$work/root ip=${IP[$1]}
	case $1 in
	pxeproxy) ip netns exec "$NS_S" "$work/bin/tftpdserve" -addr $ip:69 -root "$root" -log error ${TFTPDSERVE_FLAGS:-} & ;;
	tftpd-hpa) ip netns exec "$NS_S" "$HPA_TFTPD" -L -u nobody -a $ip:69 -s "$root" & ;;
	atftpd) ip netns exec "$NS_S" atftpd --daemon --no-fork --port 69 --bind-address $ip \
		--user nobody.nogroup --logfile /dev/null --maxthread 100 "$root" & ;;
	dnsmasq) ip netns exec "$NS_S" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
		--enable-tftp --tftp-root="$root" --tftp-max=100 --listen-address=$ip --bind-interfaces \
		--user=root --group=root --pid-file="$work/dnsmasq.pid" --log-facility=/dev/null & ;;
	pin) ip netns exec "$NS_S" "$work/bin/pinserve" -addr $ip:69 -root "$root" & ;;
	floor) ip netns exec "$NS_S" "$work/bin/floor" $ip big.bin "$size" conc.bin "$csize" & ;;
	alt | alt[0-9])
		local v=TFTPDSERVE_${1^^}
		ip netns exec "$NS_S" "${!v:?the $1 server needs $v}" -addr $ip:69 -root "$root" -log error ${TFTPDSERVE_FLAGS:-} &
		;;
	*) echo "unknown server $1" >&2; exit 1 ;;
	esac
	PID[$1]=$!
	track $!
	for _ in $(seq 50); do
		inc curl -s --max-time 1 -o /dev/null tftp://$ip/probe.txt && break
		sleep 0.1
	done
}

stop_server() { # name -> peak_kb, cpu_s
	local sp=${PID[$1]}
	peak_kb=$(peak_kb "$1" "$sp")
	# utime+stime+cutime+cstime (fields 14-17, after the parenthesised name).
	cpu_s=$(sed 's/.*) //' /proc/$sp/stat | awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($12 + $13 + $14 + $15) / hz}')
	stop_pids "$sp"
	unset "PID[$1]"
}

check() { # file label [sha256]
	got=$(sha256sum <"$1" | cut -d' ' -f1)
	[[ $got == "${3:-$want}" ]] || { echo "run.sh: $2: sha256 mismatch" >&2; exit 1; }
	rm -f "$1"
}

one_curl() { # run -> MB/s
	local out=/dev/null chk=$1
	[[ $srv == floor ]] && chk=0 # zeros, not the file
	[[ $chk == 1 ]] && out=$work/out
	local t0 t1
	t0=$(now)
	inc curl -sS --fail --max-time 300 --tftp-blksize 1468 -o "$out" tftp://$SRV_IP/big.bin
	t1=$(now)
	[[ $chk == 1 ]] && check "$out" "$srv curl"
	mbs "$size" $((t1 - t0))
}

one_atftp() {
	local out=/dev/null
	[[ $1 == 1 ]] && out=$work/out
	local t0 t1
	t0=$(now)
	inc atftp --option "windowsize 16" --option "blksize 1468" -g -r big.bin -l "$out" $SRV_IP 69 >/dev/null 2>&1
	t1=$(now)
	[[ $1 == 1 ]] && check "$out" "$srv atftp"
	mbs "$size" $((t1 - t0))
}

one_fw() { # run [fwclient flags]
	local out=/dev/null chk=$1
	[[ $srv == floor ]] && chk=0 # zeros, not the file
	[[ $chk == 1 ]] && out=$work/out
	local t0 t1
	t0=$(now)
	inc "$work/bin/fwclient" -b 1468 -w "$FW_WINDOW" "${@:2}" -d "$FW_DELAY_US" -s "$size" -o "$out" $SRV_IP big.bin
	t1=$(now)
	[[ $chk == 1 ]] && check "$out" "$srv fwclient"
	mbs "$size" $((t1 - t0))
}

# busy: the machine's busy CPU time so far and the server's, in clock ticks.
busy() {
	local cpu u n sy idle io irq sirq rest
	read -r cpu u n sy idle io irq sirq rest </proc/stat
	echo "$((u + n + sy + irq + sirq)) $(sed 's/.*) //' /proc/${PID[$srv]}/stat | awk '{print $12 + $13 + $14 + $15}')"
}

many_curl() { many "$1" curl "$CLIENTS"; }
few_curl() { many "$1" curl "$FEW"; }
many_fw() { many "$1" fw "$CLIENTS"; }
few_fw() { many "$1" fw "$FEW"; }
one_fwm() { one_fw "$1" -m "$FW_MSFT"; }
many_fwm() { many "$1" fwm "$CLIENTS"; }
few_fwm() { many "$1" fwm "$FEW"; }

# many_atftp: CLIENTS atftp clients asking for windowsize 4 at 1468, what
# EDK2's UEFI network stack asks for by default: a room of UEFI machines
# booting at once. Servers without RFC 7440 answer them lock-step.
many_atftp() { many "$1" atftp "$CLIENTS"; }

many() { # run client count -> MB/s
	local t0 t1 pids=() i b0 b1 chk=$1 n=$3
	[[ $srv == floor ]] && chk=0 # zeros, not the file
	b0=$(busy)
	t0=$(now)
	for i in $(seq "$n"); do
		local out=/dev/null
		[[ $chk == 1 && $i == 1 ]] && out=$work/out
		case $2 in
		curl) (inc curl -sS --fail --max-time 900 --tftp-blksize 1468 -o "$out" tftp://$SRV_IP/conc.bin && now >"$work/end.$i") & ;;
		fw) (inc "$work/bin/fwclient" -b 1468 -w "$FW_WINDOW" -d "$FW_DELAY_US" -s "$csize" -o "$out" $SRV_IP conc.bin && now >"$work/end.$i") & ;;
		fwm) (inc "$work/bin/fwclient" -b 1468 -w "$FW_WINDOW" -m "$FW_MSFT" -d "$FW_DELAY_US" -s "$csize" -o "$out" $SRV_IP conc.bin && now >"$work/end.$i") & ;;
		atftp) (inc atftp --option "windowsize 4" --option "blksize 1468" -g -r conc.bin -l "$out" $SRV_IP 69 >/dev/null 2>&1 && now >"$work/end.$i") & ;;
		esac
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || { echo "run.sh: $srv: a concurrent client failed" >&2; exit 1; }; done
	t1=$(now)
	# Fairness: when the first and the median client finished, against the
	# last (a server that starves some clients ends with a slow tail).
	cat "$work"/end.* | sort -n | awk -v t0="$t0" -v t1="$t1" '{a[NR]=$1} END{printf "     finish: first %.0f%%, median %.0f%% of the run\n", 100*(a[1]-t0)/(t1-t0), 100*(a[int((NR+1)/2)]-t0)/(t1-t0)}' >&2
	rm -f "$work"/end.*
	# Where the CPU went: the whole machine's busy time per MB, and the
	# server's part of it (the rest is the clients, the kernel's softirqs
	# and everything else).
	b1=$(busy)
	awk -v a="$b0" -v b="$b1" -v mb=$((csize * n / 1000000)) -v hz="$(getconf CLK_TCK)" 'BEGIN{split(a, x, " "); split(b, y, " "); printf "     cpu: %.1f ms per MB busy, of which the server %.1f\n", 1000 * (y[1] - x[1]) / hz / mb, 1000 * (y[2] - x[2]) / hz / mb}' >&2
	[[ $chk == 1 ]] && check "$work/out" "$srv $n clients" "$want_conc"
	mbs $((csize * n)) $((t1 - t0))
}

declare -A RSS CPU VALS SCPU MED
for srv in $SERVERS; do start_server "$srv"; done
rss_sampler $(for srv in $SERVERS; do echo "$srv=${PID[$srv]}"; done)
# Round robin: run 1 of every scenario on every server, then run 2, ...,
# each round starting with the next server. Measured server by server
# (all runs of one, then the next), the machine's speed drifted by up to
# a quarter within the ten minutes of a full run (atftpd's lock-step 31 ->
# 42 MB/s between two runs), and the ratios followed the order.
srvs=($SERVERS)
hz=$(getconf CLK_TCK)
started=$SECONDS
for run in $(seq "$RUNS"); do
	if ((SECONDS - started > MAX_SECONDS)); then
		echo "run.sh: MAX_SECONDS=$MAX_SECONDS passed, stopping after $((run - 1)) rounds" >&2
		break
	fi
	echo "== run $run" >&2
	for sc in $SCENARIOS; do
		for k in "${!srvs[@]}"; do
			srv=${srvs[$(((k + run - 1) % ${#srvs[@]}))]}
			# The floor yardstick serves zeros without windowsize: only
			# the lock-step figures mean something.
			[[ $srv == floor && $sc != *_curl && ($sc != *_fw || $FW_WINDOW != 1) ]] && continue
			SRV_IP=${IP[$srv]}
			c0=$(busy)
			v=$($sc "$run")
			c1=$(busy)
			echo "   $srv $sc: $v MB/s" >&2
			VALS[$srv,$sc]+=" $v"
			SCPU[$srv,$sc]=$((${SCPU[$srv,$sc]:-0} + ${c1#* } - ${c0#* }))
		done
	done
done
stop_pids "$sampler_pid"
for srv in $SERVERS; do
	for sc in $SCENARIOS; do
		[[ -z ${VALS[$srv,$sc]:-} ]] && continue
		med=$(printf '%s\n' ${VALS[$srv,$sc]} | median)
		echo "$srv $sc:${VALS[$srv,$sc]} -> median $med MB/s, server CPU $(awk -v t="${SCPU[$srv,$sc]}" -v hz="$hz" 'BEGIN{printf "%.1f", t / hz}') s" >&2
		MED[$srv,$sc]=$med
	done
	stop_server "$srv"
	RSS[$srv]=$(awk -v k="$peak_kb" 'BEGIN{printf "%.1f", k / 1024}')
	CPU[$srv]=$cpu_s
	# in.tftpd -L lets its per-transfer children be reaped without
	# accounting them to it, so its CPU time is not comparable.
	[[ $srv == tftpd-hpa ]] && CPU[$srv]="n/a"
done

label() { # scenario -> column title
	case $1 in
	one_curl) echo "lock-step 1468" ;;
	one_atftp) echo "windowsize 16" ;;
	few_curl) echo "$FEW clients" ;;
	many_curl) echo "$CLIENTS clients" ;;
	many_atftp) echo "$CLIENTS x window 4" ;;
	one_fw) echo "fw x1 w$FW_WINDOW" ;;
	few_fw) echo "fw x$FEW w$FW_WINDOW" ;;
	many_fw) echo "fw x$CLIENTS w$FW_WINDOW" ;;
	one_fwm) echo "fw x1 msft$FW_MSFT" ;;
	few_fwm) echo "fw x$FEW msft$FW_MSFT" ;;
	many_fwm) echo "fw x$CLIENTS msft$FW_MSFT" ;;
	*) echo "$1" ;;
	esac
}
echo
echo "${SIZE_MB} MiB file over veth (concurrent clients: ${CONC_MB} MiB each; fwclient: ${FW_DELAY_US} us before each ACK), MB/s median of $RUNS, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
line=$(printf '%-10s' server)
for sc in $SCENARIOS; do line+=$(printf ' %18s' "$(label "$sc")"); done
echo "$line $(printf '%14s %12s' "peak RSS MiB" "server CPU s")"
for srv in $SERVERS; do
	line=$(printf '%-10s' "$srv")
	for sc in $SCENARIOS; do line+=$(printf ' %18s' "${MED[$srv,$sc]:--}"); done
	echo "$line $(printf '%14s %12s' "${RSS[$srv]}" "${CPU[$srv]}")"
done

ratio() { awk -v x="$1" -v y="$2" 'BEGIN{ if (y > 0) printf "%.2fx", x / y; else print "n/a"}'; }
# paired a b scenario: a against b round by round (both ran in the same
# round, minutes apart at most), how many rounds a won, and the median and
# mean of those paired ratios: the medians of each server's runs alone hide
# how close a result is, and their ratio moves with whichever runs a slow
# stretch of the machine hit.
paired() {
	awk -v p="${VALS[$1,$3]}" -v q="${VALS[$2,$3]}" -v b="$2" 'BEGIN{
		n = split(p, x, " "); split(q, y, " "); w = 0; sum = 0; out = ""
		for (i = 1; i <= n; i++) {
			r[i] = x[i] / y[i]; sum += r[i]; out = out sprintf(" %.2f", r[i]); if (r[i] > 1) w++
			for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
		}
		printf "per round vs %s:%s (ahead in %d of %d; median %.2fx, mean %.3fx)", b, out, w, n, r[int((n + 1) / 2)], sum / n }'
}
if [[ " $SERVERS " == *" pxeproxy "* ]]; then
	bestpeer() { # scenario -> the peer with the highest median (not pxeproxy, floor or alt)
		local b="" bv=0 s
		for s in $SERVERS; do
			[[ $s == pxeproxy || $s == floor || $s == alt* || -z ${MED[$s,$1]:-} ]] && continue
			if awk -v x="${MED[$s,$1]}" -v y="$bv" 'BEGIN{exit !(x > y)}'; then b=$s bv=${MED[$s,$1]}; fi
		done
		echo "$b"
	}
	target() {
		case $1 in
		one_curl) echo " (target >= 1.2x)" ;;
		one_atftp) echo " (target >= 1.3x)" ;;
		many_curl) echo " (target >= 1x)" ;;
		esac
	}
	echo
	for sc in $SCENARIOS; do
		b=$(bestpeer "$sc")
		[[ -z $b || -z ${MED[pxeproxy,$sc]:-} ]] && continue
		printf 'pxeproxy %-20s / best peer: %s%s; %s\n' "$(label "$sc")" "$(ratio "${MED[pxeproxy,$sc]}" "${MED[$b,$sc]}")" "$(target "$sc")" "$(paired pxeproxy "$b" "$sc")"
	done
	builds=()
	for s in $SERVERS; do [[ $s == pxeproxy || $s == alt* ]] && builds+=("$s"); done
	for ((i = 0; i < ${#builds[@]}; i++)); do for ((j = i + 1; j < ${#builds[@]}; j++)); do
		a=${builds[$i]} b=${builds[$j]}
		echo
		for sc in $SCENARIOS; do
			[[ -z ${VALS[$a,$sc]:-} || -z ${VALS[$b,$sc]:-} ]] && continue
			printf '%s %-16s / %s: %s, server CPU %s; %s\n' "$a" "$(label "$sc")" "$b" "$(ratio "${MED[$a,$sc]}" "${MED[$b,$sc]}")" \
				"$(ratio "${SCPU[$a,$sc]}" "${SCPU[$b,$sc]}")" "$(paired "$a" "$b" "$sc")"
		done
	done; done
	echo "pxeproxy peak RSS:   ${RSS[pxeproxy]} MiB (target <= 16 with $CLIENTS clients)"
fi
