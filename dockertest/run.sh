#!/usr/bin/env bash
# run.sh: the half of the container test that needs no network. Run as root
# after dockertest/build.sh (CI: inside `unshare --net`).
#
# Everything happens in network namespaces made here (e2e/lib.sh):
#   sw    bridge br0 (the test LAN, 10.77.5.0/24) and the QEMU client's tap
#   srv   a private dockerd, so the compose file's network_mode: host puts
#         pxeproxy in this namespace (eth0 10.77.5.1), never on a real network
#   dhcp  dnsmasq as the site's ordinary DHCP server (leases only; eth0 .2)
# The engine gets a fresh data root each run, loaded from the image tarball
# build.sh saved: a container left over from an aborted run can never be
# restarted by an engine running outside a test namespace.
#
# Checks: the repo's docker-compose.yml comes up healthy (its healthcheck
# probing the HTTP listener the compose file turns on, TCP 4011); the process
# runs as uid 65532 with only CAP_NET_BIND_SERVICE and a read-only root; TFTP
# and HTTP serve the admin mount and the built-in defaults (iPXE, memtest86+)
# and the generated boot menu; QEMU BIOS and UEFI PXE clients boot into that
# menu through the containerized proxy; compose down; the engine stops. Last
# line: "docker: N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$REPO/e2e/lib.sh"

passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# check NAME CMD...: one PASS/FAIL line from CMD's exit status.
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}
summary() {
	echo "docker: $passed passed, $failed failed"
	[[ $failed -eq 0 ]]
}

[[ $(id -u) == 0 ]] || { echo "run.sh: run as root" >&2; exit 1; }
image_tar=$DT_CACHE/pxeproxy-image.tar
if [[ ! -s $image_tar ]] || ! docker compose version >/dev/null 2>&1; then
	fail "prerequisites: $image_tar and the compose plugin come from dockertest/build.sh"
	summary
	exit 1
fi

COMPOSE_UP=
DOCKERD_PID=
RUN_DATA=
dt_cleanup() {
	if [[ -n $COMPOSE_UP ]]; then
		"${compose[@]}" down --timeout 10 >/dev/null 2>&1 || docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1
	fi
	stop_dockerd
	[[ -n $RUN_DATA ]] && rm -rf "$RUN_DATA"
}
e2e_init
trap 'dt_cleanup; e2e_cleanup' EXIT

# --- the test LAN --------------------------------------------------------------
e2e_ns sw && e2e_bridge sw br0 &&
	e2e_ns srv && e2e_link sw br0 srv eth0 10.77.5.1/24 &&
	e2e_ns dhcp && e2e_link sw br0 dhcp eth0 10.77.5.2/24 &&
	e2e_tap sw br0 tap0 || { fail "test network setup"; summary; exit 1; }

# --- engine inside srv -----------------------------------------------------------
# nsenter, not "ip netns exec": the latter remounts /sys, which hides the
# cgroup hierarchy the engine needs. Stale data roots of killed runs go first.
rm -rf "$DT_STATE"/run.*
RUN_DATA=$(mktemp -d "$DT_STATE/run.XXXXXX")
DT_DATA=$RUN_DATA
t0=$SECONDS
if start_dockerd nsenter --net="/run/netns/$(e2e_nsname srv)"; then
	pass "dockerd started inside netns $(e2e_nsname srv) (pid $DOCKERD_PID)"
else
	fail "dockerd start"
	summary
	exit 1
fi
check "engine runs in the test namespace" \
	test "$(readlink "/proc/$DOCKERD_PID/ns/net")" = "$(e2e_in srv readlink /proc/self/ns/net)"
check "image loaded" docker load -q -i "$image_tar"

# --- compose up with the repo's file -------------------------------------------
# Only what the test needs is overridden: the prebuilt image, a test folder
# for ./tftpboot, a short health interval, the interface name.
tftpboot=$E2E_TMP/tftpboot
mkdir -p "$tftpboot"
echo "admin file $$" >"$tftpboot/hello.txt"
cat >"$E2E_TMP/override.yml" <<EOF
services:
  pxeproxy:
    image: $DT_IMAGE
    volumes:
      - $tftpboot:/srv/tftp:ro
    healthcheck:
      interval: 2s
EOF
cat >"$E2E_TMP/test.env" <<EOF
PXE_INTERFACES=eth0
PXE_LOG_LEVEL=debug
EOF
compose=(docker compose -p pxedt --env-file "$E2E_TMP/test.env"
	-f "$REPO/docker-compose.yml" -f "$E2E_TMP/override.yml")
if "${compose[@]}" up -d --no-build; then
	COMPOSE_UP=1
	pass "docker compose up -d"
else
	fail "docker compose up -d"
	summary
	exit 1
fi
cid=$("${compose[@]}" ps -q pxeproxy)

health=
for _ in $(seq 1 60); do
	health=$(docker inspect -f '{{.State.Health.Status}}' "$cid" 2>/dev/null)
	[[ $health == healthy || $health == unhealthy ]] && break
	sleep 1
done
check "container healthy (status: $health)" test "$health" = healthy
t_up=$((SECONDS - t0))
# Each probe's output ends with a newline: the last non-empty line is the latest.
hlog=$(docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$cid" | grep -v '^$' | tail -n 1)
echo "$hlog"
check "healthcheck probes the HTTP listener on 4011" grep -q 'http://127.0.0.1:4011/healthz answered 200' <<<"$hlog"

# --- privileges and file system --------------------------------------------------
pid=$(docker inspect -f '{{.State.Pid}}' "$cid")
status=$(cat "/proc/$pid/status" 2>/dev/null)
echo "$status" | grep -E '^(Uid|Gid|Cap(Eff|Prm|Bnd|Amb)|NoNewPrivs):'
check "process runs as uid 65532" grep -qE '^Uid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status"
check "process runs as gid 65532" grep -qE '^Gid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status"
check "only CAP_NET_BIND_SERVICE effective" grep -qE '^CapEff:\s+0000000000000400$' <<<"$status"
check "capability bounding set is CAP_NET_BIND_SERVICE" grep -qE '^CapBnd:\s+0000000000000400$' <<<"$status"
check "compose sets ReadonlyRootfs" test "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$cid")" = true
# A write through the container's own mount table, as root: only a read-only
# mount refuses it.
if err=$(touch "/proc/$pid/root/dockertest-write" 2>&1); then
	fail "root file system write refused (write succeeded)"
	rm -f "/proc/$pid/root/dockertest-write"
else
	check "root file system write refused ($err)" grep -q 'Read-only file system' <<<"$err"
fi
if err=$(touch "/proc/$pid/root/srv/tftp/dockertest-write" 2>&1); then
	fail "tftp mount write refused (write succeeded)"
else
	check "tftp mount write refused ($err)" grep -q 'Read-only file system' <<<"$err"
fi
ports=$(e2e_in srv ss -Hulnp)
for p in 67 69 4011; do
	check "pxeproxy listens on udp port $p" grep -qE ":$p\s.*pxeproxy" <<<"$ports"
done
check "pxeproxy listens on tcp port 4011 (HTTP)" grep -qE ":4011\s.*pxeproxy" <<<"$(e2e_in srv ss -Htlnp)"
check "healthcheck subcommand via docker exec" docker exec "$cid" /pxeproxy healthcheck

# --- TFTP and HTTP over the test LAN ----------------------------------------------
# tftp_same FILE REFERENCE: FILE fetched from the container over the test LAN
# (from the dhcp namespace, a real client address) equals REFERENCE.
tftp_same() {
	e2e_in dhcp curl -sS --max-time 10 -o "$E2E_TMP/got" "tftp://10.77.5.1/$1" && cmp -s "$E2E_TMP/got" "$2"
}
check "tftp serves the admin mount" tftp_same hello.txt "$tftpboot/hello.txt"
for f in undionly.kpxe snponly.efi ipxe.efi; do
	check "tftp serves built-in $f (Debian ipxe)" tftp_same "$f" "$E2E_IPXE_DIR/$f"
done
# http_same PATH REFERENCE: PATH fetched from the container's HTTP listener
# (the compose file's TCP 4011) over the test LAN equals REFERENCE.
http_same() {
	e2e_in dhcp curl -sSf --max-time 10 -o "$E2E_TMP/got" "http://10.77.5.1:4011/$1" && cmp -s "$E2E_TMP/got" "$2"
}
# tftp_pe FILE OUT: FILE fetched over TFTP into OUT is a PE (EFI) image.
tftp_pe() {
	e2e_in dhcp curl -sS --max-time 10 -o "$2" "tftp://10.77.5.1/$1" && [[ $(head -c 2 "$2") == MZ ]]
}
check "tftp serves built-in memtest86+ (memtest/memtest86+x64.efi)" tftp_pe memtest/memtest86+x64.efi "$E2E_TMP/memtest.efi"
check "http serves the same file" http_same memtest/memtest86+x64.efi "$E2E_TMP/memtest.efi"
check "http serves the admin mount" http_same hello.txt "$tftpboot/hello.txt"
# The image ships no boot.ipxe: iPXE clients get the menu generated from the
# boot folder, also under its stable name, with big files over HTTP.
e2e_in dhcp curl -sS --max-time 10 -o "$E2E_TMP/boot.ipxe" tftp://10.77.5.1/boot.ipxe
check "tftp serves the generated menu as boot.ipxe" grep -q '^# pxeproxy boot catalogue' "$E2E_TMP/boot.ipxe"
check "the menu sends big files to our HTTP listener" \
	grep -qF 'set pxeproxy-http http://${pxeproxy-server}:4011' "$E2E_TMP/boot.ipxe"
check "the menu offers the built-in memtest86+ over HTTP" \
	grep -qF 'kernel ${pxeproxy-http}/memtest/memtest86%2Bx64.efi' "$E2E_TMP/boot.ipxe"
check "http serves the same menu as pxeproxy-menu.ipxe" http_same pxeproxy-menu.ipxe "$E2E_TMP/boot.ipxe"

# --- a PXE client boots into the menu ----------------------------------------------
t1=$SECONDS
e2e_bg dhcp "$E2E_TMP/dnsmasq.log" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
	--interface=eth0 --bind-interfaces --dhcp-range=10.77.5.100,10.77.5.199,255.255.255.0,10m \
	--dhcp-leasefile="$E2E_TMP/dnsmasq.leases" --log-dhcp --log-facility=- --user=root
e2e_tap sw br0 tap1
# Two real firmwares at once, both ending in the generated menu:
#   bios: SeaBIOS with QEMU's iPXE NIC ROM, which is iPXE already and so is
#         sent straight to boot.ipxe;
#   uefi: OVMF with EDK2's own PXE stack: proxy offer (and 4011 ACK), then
#         snponly.efi from the image's defaults, whose iPXE fetches boot.ipxe.
# The menu's title only appears once boot.ipxe runs.
declare -A vm_pid vm_mac
vm_mac[bios]=$(e2e_mac 51)
vm_mac[uefi]=$(e2e_mac 52)
e2e_vm sw bios tap0 "${vm_mac[bios]}" "$E2E_TMP/bios.serial" && vm_pid[bios]=$E2E_PID
e2e_vm sw uefi tap1 "${vm_mac[uefi]}" "$E2E_TMP/uefi.serial" && vm_pid[uefi]=$E2E_PID
for kind in bios uefi; do
	serial=$E2E_TMP/$kind.serial
	if e2e_wait_for "$serial" 'pxeproxy boot menu' 300 "${vm_pid[$kind]:-}"; then
		pass "QEMU $kind client booted into the generated iPXE menu"
	else
		fail "QEMU $kind client booted into the generated iPXE menu"
		tail -c 1500 "$serial" | tr -c '[:print:]\n' '.' >&2
	fi
	check "$kind menu shows the client's MAC" grep -q "${vm_mac[$kind]}" "$serial"
	check "$kind menu shows pxeproxy as the server" grep -qaE "server 10\.77\.5\.1( |$)" "$serial"
	check "$kind menu offers the built-in memtest86+" grep -qa "Memory test (memtest86+)" "$serial"
done
for kind in bios uefi; do
	[[ -n ${vm_pid[$kind]:-} ]] && e2e_kill "${vm_pid[$kind]}"
done
t_boot=$((SECONDS - t1))
logs=$(docker logs "$cid" 2>&1)
for kind in bios uefi; do
	check "container logged a pxe reply to the $kind client" grep -qE "msg=\"pxe reply\".*mac=${vm_mac[$kind]}" <<<"$logs"
done
check "uefi client got a proxy answer with snponly.efi" \
	grep -qE "msg=\"pxe reply\".*mac=${vm_mac[uefi]} .*arch=7 .*file=snponly\.efi" <<<"$logs"
# TFTP logs the peer address, not the MAC: count transfers to leased
# addresses (dnsmasq's range), i.e. to the QEMU clients.
check "snponly.efi went to a client over TFTP" \
	grep -qE 'msg="tftp transfer" .*peer=10\.77\.5\.1[0-9]{2}:[0-9]+ file=snponly\.efi' <<<"$logs"
check "boot.ipxe went to both clients over TFTP" \
	test "$(grep -cE 'msg="tftp transfer" .*peer=10\.77\.5\.1[0-9]{2}:[0-9]+ file=boot\.ipxe' <<<"$logs")" -ge 2
if [[ $failed -gt 0 ]]; then
	echo "--- container log (tail)" >&2
	tail -n 40 <<<"$logs" >&2
fi

# --- shutdown ----------------------------------------------------------------------
# stop first, so the exit code and the shutdown log can still be read.
check "docker compose stop" "${compose[@]}" stop
check "pxeproxy process gone after stop" sh -c "! kill -0 $pid 2>/dev/null"
check "clean exit on SIGTERM (exit code $(docker inspect -f '{{.State.ExitCode}}' "$cid"))" \
	test "$(docker inspect -f '{{.State.ExitCode}}' "$cid")" = 0
check "no error in the container log" sh -c "! docker logs $cid 2>&1 | grep -E 'level=ERROR'"
if "${compose[@]}" down --timeout 30; then
	COMPOSE_UP=
	pass "docker compose down"
else
	fail "docker compose down"
fi
check "container removed by down" sh -c "! docker inspect $cid >/dev/null 2>&1"
dpid=$DOCKERD_PID
stop_dockerd
check "dockerd stopped by pid" sh -c "! kill -0 $dpid 2>/dev/null"
echo "timings: engine start to healthy ${t_up}s, client boot to menu ${t_boot}s, total ${SECONDS}s"
summary
