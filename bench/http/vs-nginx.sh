#!/usr/bin/env bash
# pxeproxy's HTTP boot file server (package httpd, run by bench/http/httpbootserve) against Debian's
# nginx, side by side in one run (issue 17, "Performance").
#
# Two network namespaces joined by a veth pair: both servers in one (pxeproxy on 10.199.1.10:8080,
# nginx on 10.199.1.11:8080, the same folder on tmpfs), the curl clients in the other (10.199.1.2).
# Nothing touches the host's interfaces. Scenarios, each run RUNS times, the servers taking turns
# inside every round (and starting in turn) so that they share the machine's noise:
#   one     1 client fetches the SIZE_MIB file
#   many    CLIENTS clients fetch the whole file at once
#   range   CLIENTS clients at once, each reading RANGE_MIB of the file as 1 MiB Range requests
#           over one keep-alive connection (what iPXE's sanboot over HTTP does), each from its
#           own offset
# MB/s is 10^6 bytes per second of all clients together (wall time of the scenario); the table
# gives the median of RUNS. Peak RSS is the largest sampled sum of the server's processes (nginx:
# master and workers) or its VmHWM, whichever is larger; server CPU s is user+system time over all
# runs. Before the timed rounds, one download per server is checked against the source (SHA-256)
# and one 1 MiB range byte for byte; the timed runs check every size (range: every answer a 206
# of 1 MiB).
#
# Usage (root): bench/http/vs-nginx.sh
# Env: RUNS (3), CLIENTS (32), SIZE_MIB (256), RANGE_MIB (64), SERVERS ("pxeproxy nginx"),
# SCENARIOS ("one many range"), TIMEOUT (seconds per curl, 600).
# Needs: ip, curl, nginx (apt-get install nginx-light), go, sha256sum, awk.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_root
need ip curl nginx go sha256sum awk
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-32}
SIZE_MIB=${SIZE_MIB:-256}
RANGE_MIB=${RANGE_MIB:-64}
SERVERS=${SERVERS:-"pxeproxy nginx"}
SCENARIOS=${SCENARIOS:-"one many range"}
TIMEOUT=${TIMEOUT:-600}
((RANGE_MIB <= SIZE_MIB)) || die "RANGE_MIB > SIZE_MIB"

workdir httpnginx tmpfs
NS_S=httpb-s-$$ NS_C=httpb-c-$$
declare -A IP PID

echo "building and preparing in $work..." >&2
mkdir -p "$work/bin" "$work/root"
(cd "$repo" && go build -o "$work/bin/httpbootserve" ./bench/http/httpbootserve)
head -c $((SIZE_MIB << 20)) /dev/urandom >"$work/root/big.wim"
chmod 755 "$work" "$work/root"
chmod 644 "$work/root/big.wim"
want=$(sha256sum <"$work/root/big.wim" | cut -d' ' -f1)
size=$(stat -c %s "$work/root/big.wim")

server_link "$NS_S" hb-s$$ "$NS_C" hb-c$$ 10.199.1 $SERVERS
inc() { ip netns exec "$NS_C" "$@"; }

# nginx as Debian ships it, tuned the way an admin serving big files would: sendfile, no access
# log, one worker per CPU, long keep-alive for sanboot's many Range requests.
cat >"$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	default_type application/octet-stream;
	server {
		listen ${IP[nginx]:-127.0.0.1}:8080;
		root $work/root;
	}
}
EOF

start_server() { # name
	case $1 in
	pxeproxy) ip netns exec "$NS_S" "$work/bin/httpbootserve" -http "${IP[$1]}:8080" -tftp 127.0.0.1:0 \
		-root "$work/root" -log error & ;;
	nginx) ip netns exec "$NS_S" nginx -c "$work/nginx.conf" -g "daemon off;" & ;;
	*) die "unknown server $1" ;;
	esac
	PID[$1]=$!
	track $!
	for _ in $(seq 100); do
		inc curl -s --max-time 1 -o /dev/null -r 0-0 "http://${IP[$1]}:8080/big.wim" && return
		sleep 0.1
	done
	die "$1 did not answer"
}

stop_server() { # name -> peak_kb, cpu_s
	local sp=${PID[$1]}
	peak_kb=$(peak_kb "$1" "$sp")
	# utime+stime+cutime+cstime (fields 14-17, after the parenthesised name); nginx's workers
	# are counted once they exit (cutime), so the master is stopped first and waited for.
	if [[ $1 == nginx ]]; then kill -QUIT "$sp"; else kill "$sp"; fi
	wait "$sp" 2>/dev/null || true
	stop_pids "$sp" # gone already: no longer stopped on exit
	cpu_s=${CPU_S[$1]:-n/a}
	unset "PID[$1]"
}

# cpu_of: user+system ticks of a server and its reaped children so far; for nginx the live workers
# are added (their time reaches the master only when they exit).
cpu_of() { # name -> ticks
	local sp=${PID[$1]} t
	t=$(sed 's/.*) //' "/proc/$sp/stat" | awk '{print $12 + $13 + $14 + $15}')
	for f in /proc/$sp/task/*/children; do
		for k in $(cat "$f" 2>/dev/null); do
			t=$((t + $(sed 's/.*) //' "/proc/$k/stat" | awk '{print $12 + $13}')))
		done
	done
	echo "$t"
}

url() { echo "http://$SRV_IP:8080/big.wim"; }

# verify: one whole download per server compared by SHA-256 with the source, and one 1 MiB range
# compared byte for byte; not timed.
verify() {
	local got off=$((SIZE_MIB / 2))
	got=$(inc curl -sS --fail --max-time "$TIMEOUT" "$(url)" | sha256sum | cut -d' ' -f1)
	[[ $got == "$want" ]] || die "$srv: sha256 mismatch"
	inc curl -sS --fail --max-time "$TIMEOUT" -r $((off << 20))-$((((off + 1) << 20) - 1)) -o "$work/part" "$(url)"
	cmp -s "$work/part" <(tail -c +$(((off << 20) + 1)) "$work/root/big.wim" | head -c $((1 << 20))) ||
		die "$srv: range content differs"
	rm -f "$work/part"
}

one() { # -> MB/s
	local t0 t1 got
	t0=$(now)
	got=$(inc curl -sS --fail --max-time "$TIMEOUT" -o /dev/null -w '%{size_download}' "$(url)")
	t1=$(now)
	[[ $got == "$size" ]] || die "$srv one: $got bytes"
	mbs "$size" $((t1 - t0))
}

many() { # -> MB/s
	local t0 t1 pids=() i short
	t0=$(now)
	for i in $(seq "$CLIENTS"); do
		(inc curl -sS --fail --max-time "$TIMEOUT" -o /dev/null -w '%{size_download}\n' "$(url)" >"$work/got.$i") &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || die "$srv: a client failed"; done
	t1=$(now)
	short=$(cat "$work"/got.* | awk -v n="$size" '$1 != n' | wc -l)
	[[ $short == 0 ]] || die "$srv many: $short short downloads"
	rm -f "$work"/got.*
	mbs $((size * CLIENTS)) $((t1 - t0))
}

# rangecfg client url -> a curl config: RANGE_MIB requests of 1 MiB, from the client's own offset
# (client i starts at i*8 MiB, wrapping inside the file), on one connection. One awk, not a fork
# per line: under load, forks per request took minutes.
rangecfg() {
	awk -v c="$1" -v url="$2" -v n="$RANGE_MIB" -v size="$SIZE_MIB" 'BEGIN {
		start = (c * 8) % (size - n + 1)
		for (k = 0; k < n; k++) {
			off = (start + k) % size
			printf "url = \"%s\"\nrange = \"%d-%d\"\noutput = \"/dev/null\"\n", url, off * 1048576, (off + 1) * 1048576 - 1
			printf "write-out = \"%%{http_code} %%{size_download}\\n\"\n"
			if (k < n - 1) print "next"
		}
	}'
}

range() { # -> MB/s
	local t0 t1 pids=() i bad
	local u
	u=$(url)
	for i in $(seq "$CLIENTS"); do rangecfg "$i" "$u" >"$work/range.$i"; done
	t0=$(now)
	for i in $(seq "$CLIENTS"); do
		(inc curl -sS --fail --max-time "$TIMEOUT" -K "$work/range.$i" >"$work/got.$i") &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || die "$srv: a range client failed"; done
	t1=$(now)
	bad=$(cat "$work"/got.* | awk '$1 != 206 || $2 != 1048576' | wc -l)
	n=$(cat "$work"/got.* | wc -l)
	[[ $bad == 0 && $n == $((CLIENTS * RANGE_MIB)) ]] || die "$srv range: $bad bad of $n answers"
	rm -f "$work"/got.* "$work"/range.*
	mbs $((CLIENTS * RANGE_MIB << 20)) $((t1 - t0))
}

declare -A VALS MED RSS CPU CPU_S CPU0
for srv in $SERVERS; do start_server "$srv"; done
for srv in $SERVERS; do
	SRV_IP=${IP[$srv]}
	verify
	CPU0[$srv]=$(cpu_of "$srv")
done
rss_sampler $(for srv in $SERVERS; do echo "$srv=${PID[$srv]}"; done)
srvs=($SERVERS)
for run in $(seq "$RUNS"); do
	echo "== round $run" >&2
	for sc in $SCENARIOS; do
		for k in "${!srvs[@]}"; do
			srv=${srvs[$(((k + run - 1) % ${#srvs[@]}))]}
			SRV_IP=${IP[$srv]}
			v=$($sc)
			echo "   $srv $sc: $v MB/s" >&2
			VALS[$srv,$sc]+=" $v"
		done
	done
done
stop_pids "$sampler_pid"
for srv in $SERVERS; do
	CPU_S[$srv]=$(awk -v a="${CPU0[$srv]}" -v b="$(cpu_of "$srv")" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b - a) / hz}')
	for sc in $SCENARIOS; do
		MED[$srv,$sc]=$(printf '%s\n' ${VALS[$srv,$sc]} | median)
		echo "$srv $sc:${VALS[$srv,$sc]} -> median ${MED[$srv,$sc]} MB/s" >&2
	done
	stop_server "$srv"
	RSS[$srv]=$(awk -v k="$peak_kb" 'BEGIN{printf "%.1f", k / 1024}')
	CPU[$srv]=$cpu_s
done

echo
echo "${SIZE_MIB} MiB file over veth, MB/s (10^6 B/s, all clients together) median of $RUNS;" \
	"range: $CLIENTS x $RANGE_MIB x 1 MiB requests; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$(uname -r), $(nginx -v 2>&1 | sed 's/.*: //'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
head="| server |"
sep="|---|"
for sc in $SCENARIOS; do
	case $sc in one) head+=" 1 client |" ;; many) head+=" $CLIENTS clients |" ;; range) head+=" $CLIENTS clients, Range |" ;; esac
	sep+="---|"
done
echo "$head peak RSS MiB | server CPU s |"
echo "$sep---|---|"
for srv in $SERVERS; do
	row="| $srv |"
	for sc in $SCENARIOS; do row+=" ${MED[$srv,$sc]} (${VALS[$srv,$sc]# }) |"; done
	echo "$row ${RSS[$srv]} | ${CPU[$srv]} |"
done
if [[ " $SERVERS " == *" pxeproxy "* && " $SERVERS " == *" nginx "* ]]; then
	echo
	for sc in $SCENARIOS; do
		awk -v p="${MED[pxeproxy,$sc]}" -v n="${MED[nginx,$sc]}" -v sc="$sc" \
			'BEGIN{printf "pxeproxy / nginx, %s: %.2fx (target >= 1)\n", sc, p / n}'
	done
	awk -v p="${RSS[pxeproxy]}" -v n="${RSS[nginx]}" 'BEGIN{printf "pxeproxy / nginx, peak RSS: %.2fx (target <= 2)\n", p / n}'
fi
