# shellcheck shell=bash
# Shell pieces shared by the benchmark scripts (bench/*/run.sh, bench/dhcp/run6.sh,
# bench/http/vs-nginx.sh). Source it right after `set -euo pipefail`:
#   . "$(dirname "$0")/../lib.sh"
# It sets $repo (the checkout) and installs the EXIT trap: the processes given to track are stopped,
# the namespaces made by netns deleted and the work folder made by workdir removed (kept with KEEP=1),
# also when the script fails. A script with more to undo adds it with on_exit.

bench_name=$(basename "$0")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_pids=()
bench_namespaces=()
bench_hooks=()
work=

die() { echo "$bench_name: $*" >&2; exit 1; }
need() { for t; do command -v "$t" >/dev/null || die "missing $t"; done; }
need_root() { [ "$(id -u)" = 0 ] || die "needs root (network namespaces)"; }

# workdir PREFIX [tmpfs]: make the work folder $work; with tmpfs, on /dev/shm when there is one (a
# file served from disk would measure the disk).
workdir() {
	local base=/tmp
	if [ "${2:-}" = tmpfs ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
	work=$(mktemp -d "$base/$1.XXXXXX")
}

# on_exit CMD: run CMD (a function name) first on exit.
on_exit() { bench_hooks+=("$1"); }

# netns NAME: a network namespace with lo up, deleted on exit.
netns() {
	ip netns add "$1"
	bench_namespaces+=("$1")
	ip -n "$1" link set lo up
}

# veth NS_A IF_A NS_B IF_B: a veth pair made directly inside the two namespaces, so that it never
# exists in the host's; both ends up.
veth() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# server_link NS_S IF_S NS_C IF_C NET NAME...: a server and a client namespace joined by a veth pair;
# the client on NET.2 (NET: the first three bytes of a /24), each server NAME on its own address,
# NET.10, NET.11, ..., kept in the script's associative array IP.
server_link() {
	local ns=$1 ifc=$2 net=$5 i=10 n
	netns "$1"
	netns "$3"
	veth "$1" "$2" "$3" "$4"
	ip -n "$3" addr add "$net.2/24" dev "$4"
	shift 5
	for n; do
		IP[$n]=$net.$i
		ip -n "$ns" addr add "$net.$i/24" dev "$ifc"
		i=$((i + 1))
	done
}

# track PID: a process stopped on exit.
track() { bench_pids+=("$1"); }

# stop_pids PID...: SIGTERM, then SIGKILL after 5 s; waits for each and forgets it.
stop_pids() {
	local p q keep=()
	for p; do kill -TERM "$p" 2>/dev/null || true; done
	for p; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for q in "${bench_pids[@]}"; do
		for p; do [ "$p" = "$q" ] && continue 2; done
		keep+=("$q")
	done
	bench_pids=("${keep[@]}")
}

bench_cleanup() {
	local rc=$? h ns
	set +e
	for h in "${bench_hooks[@]}"; do "$h"; done
	[ ${#bench_pids[@]} -gt 0 ] && stop_pids "${bench_pids[@]}"
	for ns in "${bench_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [ -n "$work" ]; then
		if [ -n "${KEEP:-}" ]; then echo "$bench_name: work folder kept: $work" >&2; else rm -rf "$work"; fi
	fi
	exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# median: the median of the numbers on stdin, one per line (blank lines ignored).
median() { grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s%N; }
# mbs BYTES NS: MB/s (10^6 bytes per second).
mbs() { awk -v b="$1" -v ns="$2" 'BEGIN{printf "%.1f", b / (ns / 1e9) / 1e6}'; }

# rss_sampler NAME=PID...: samples ten times a second the RSS of each process with its children
# (forking servers, nginx's workers) and keeps the largest sum in $work/rss.NAME; it is stopped on
# exit or by stop_pids "$sampler_pid". Shell builtins only: forking cat and awk ten times a second
# took 2-5 % of the CPU the servers compete for (perf).
rss_sampler() {
	(
		declare -A max
		while :; do
			for np in "$@"; do
				name=${np%%=*} sp=${np#*=}
				pids=$sp
				for f in /proc/$sp/task/*/children; do
					kids=""
					# (no newline at the end of that file: read "fails" but fills kids)
					read -r kids <"$f" 2>/dev/null || true
					pids+=" $kids"
				done
				sum=0
				for p in $pids; do
					while read -r k v _; do
						[[ $k == VmRSS: ]] && sum=$((sum + v)) && break
					done 2>/dev/null <"/proc/$p/status"
				done
				((sum > ${max[$name]:-0})) && max[$name]=$sum && echo "$sum" >"$work/rss.$name"
			done
			read -rt 0.1 <> <(:) || true
		done
	) &
	sampler_pid=$!
	track "$sampler_pid"
}

# peak_kb NAME PID: the larger of the process's VmHWM and the sampled peak of NAME, in KiB. Call it
# before the process ends.
peak_kb() {
	local hwm sampled
	hwm=$(awk '/^VmHWM/{print $2}' "/proc/$2/status")
	sampled=$(cat "$work/rss.$1" 2>/dev/null || echo 0)
	echo $((hwm > sampled ? hwm : sampled))
}
