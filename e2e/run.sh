#!/usr/bin/env bash
# e2e/run.sh: real PXE firmware (QEMU SeaBIOS+iPXE, OVMF/EDK2) boots through pxeproxy next to an unmodified
# DHCP server, all inside network namespaces this script creates and always removes.
#
#     unshare --net bash -c 'ip link set lo up; e2e/run.sh'            # as root; what CI runs
#     E2E_ONLY=bios,uefi e2e/run.sh                                    # a subset
#     PXEPROXY_BIN=/path/to/pxeproxy e2e/run.sh                        # a prebuilt binary
#     E2E_KEEP=1 e2e/run.sh                                            # keep logs, pcaps and serial consoles
#
# Scenarios: bios uefi three relay windows dhcpd arm64 ipv6 kea6 dual linux-bios linux-uefi (default: all, in that
# order; arm64 needs qemu-system-arm and qemu-efi-aarch64, kea6 kea-dhcp6-server and radvd, the linux ones Debian's
# debian-installer-12-netboot-amd64, and they fail without them), and on request (E2E_ONLY) ipxe6 (the whole chain
# over IPv6, iPXE included: a race pxeproxy has won so far) and the IPv6 known limits slaac and pref255. One line
# per scenario:
# "PASS name (Ns)" or "FAIL name (Ns): why", then "e2e: N passed, N failed"; exit status 1 if any failed.
# Proof for each client: pxeproxy's JSON log has a finished "tftp transfer" of done-<mac> (a name only the
# running iPXE script can build), to the address that the corporate DHCP server's lease file gives that MAC.
# The linux scenarios boot Debian's network installer through the menu pxeproxy generates from its boot
# folder instead: the kernel's own lines on the serial console, its first DHCP request on the link, and
# the kernel and initrd fetched over pxeproxy's HTTP listener.
#
# Topology (10.77.0.0/24 and fd77::/64 on bridge br0, 10.77.1.0/24 on br1, both in namespace "sw"):
#   corp  eth0 10.77.0.2 fd77::2   dnsmasq plain DHCP (or ISC dhcpd; DHCPv6 from dnsmasq or Kea + radvd): the only
#                                  lease source
#   pxe   eth0 10.77.0.3 fd77::3   pxeproxy, PXE_INTERFACES=eth0 (IPv6 on: auto), bundled TFTP serving Debian's iPXE
#                                  + boot.ipxe
#                                  HTTP on TCP 4011 as the compose file sets it
#   relay eth0 10.77.0.4, eth1 10.77.1.1   ISC dhcrelay forwarding to both 10.77.0.2 and 10.77.0.3, IP router
#   QEMU clients on taps on br0 (or br1 for the relay scenario)
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "e2e: must run as root (namespaces, taps)" >&2
	exit 2
fi
for tool in ip qemu-system-x86_64 dnsmasq dhcpd dhcrelay tcpdump; do
	command -v "$tool" >/dev/null || {
		echo "e2e: missing $tool (apt: qemu-system-x86 ipxe-qemu ovmf ipxe dnsmasq-base isc-dhcp-server isc-dhcp-relay tcpdump debian-installer-12-netboot-amd64)" >&2
		exit 2
	}
done

# Timeouts per client kind, generous for TCG on a loaded 2-core machine (measured: BIOS ~25 s, UEFI ~70 s).
T_BIOS=${E2E_TIMEOUT_BIOS:-120}
T_UEFI=${E2E_TIMEOUT_UEFI:-240}
# OVMF's PXEv6 path: DHCPv6 offer collection, the held 4011 REPLY, then iPXE configuring both families.
T_UEFI6=${E2E_TIMEOUT_UEFI6:-300}
# Firmware, iPXE, the menu, then a whole kernel and the installer's start under TCG.
T_LINUX=${E2E_TIMEOUT_LINUX:-420}
ALL="bios uefi three relay windows dhcpd arm64 ipv6 kea6 dual linux-bios linux-uefi"
ONLY=${E2E_ONLY:-$ALL}
ONLY=${ONLY//,/ }

e2e_init
art=$E2E_TMP/art
mkdir -p "$art"

bin=${PXEPROXY_BIN:-}
if [[ -z $bin ]]; then
	bin=$E2E_TMP/pxeproxy
	(cd "$repo" && go build -o "$bin" .) || {
		echo "e2e: go build failed" >&2
		exit 2
	}
fi

# ---- topology -------------------------------------------------------------------------------------------
e2e_ns sw
e2e_ns corp
e2e_ns pxe
e2e_ns relay
e2e_bridge sw br0
e2e_bridge sw br1
e2e_link sw br0 corp eth0 10.77.0.2/24
e2e_link sw br0 pxe eth0 10.77.0.3/24
# The IPv6 side: a ULA prefix on br0. nodad: an address is usable at once (no tentative state).
# No SLAAC on the servers: a router advertisement with the A flag (scenario slaac) would add an address that
# outlives the scenario, and pxeproxy would put it in its URLs.
e2e_in corp sysctl -qw net.ipv6.conf.eth0.accept_ra=0
e2e_in pxe sysctl -qw net.ipv6.conf.eth0.accept_ra=0
e2e_in corp ip addr add fd77::2/64 dev eth0 nodad
e2e_in pxe ip addr add fd77::3/64 dev eth0 nodad
pxe_mac=$(e2e_in pxe cat /sys/class/net/eth0/address)
e2e_link sw br0 relay eth0 10.77.0.4/24
e2e_link sw br1 relay eth1 10.77.1.1/24
e2e_in relay sysctl -qw net.ipv4.ip_forward=1
e2e_in corp ip route add 10.77.1.0/24 via 10.77.0.4
e2e_in pxe ip route add 10.77.1.0/24 via 10.77.0.4

root=$E2E_TMP/tftp
e2e_tftp_root "$root"
mkdir -p "$root/boot/x64"
cp "$root/snponly.efi" "$root/boot/x64/wdsmgfw.efi"
ARM64_FILE=arm64-placeholder.efi
printf 'not an EFI image: the e2e arm64 scenario only proves that the firmware downloads it\n' >"$root/$ARM64_FILE"

# ---- per-scenario services -------------------------------------------------------------------------------
# Each scenario starts its own daemons; svc_pids lists them so that they end with the scenario.
svc_pids=()
ntap=0

# corp_dnsmasq DIR [OPTION...]: plain DHCP, no PXE options at all (unless OPTIONs add some); leases in
# DIR/corp.leases.
corp_dnsmasq() {
	e2e_bg corp "$1/corp.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --log-dhcp \
		--interface=eth0 --bind-interfaces --pid-file= --dhcp-leasefile="$1/corp.leases" \
		--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h \
		--dhcp-range=set:far,10.77.1.100,10.77.1.199,255.255.255.0,1h \
		--dhcp-option=tag:far,option:router,10.77.1.1 "${@:2}"
	svc_pids+=("$E2E_PID")
}

# corp_dnsmasq6 DIR: the same plain DHCPv4 server plus DHCPv6 (fd77::100-1ff, leases to whoever asks) and router
# advertisements (M and O flags, as dnsmasq sets them for a leasing range); no PXE option in either family.
corp_dnsmasq6() {
	e2e_bg corp "$1/corp.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --log-dhcp \
		--interface=eth0 --bind-interfaces --pid-file= --dhcp-leasefile="$1/corp.leases" \
		--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h --dhcp-range=fd77::100,fd77::1ff,64,1h --enable-ra
	svc_pids+=("$E2E_PID")
}

# corp_kea6 DIR [PREFERENCE]: Kea DHCPv6 2.2 (leases fd77::200-2ff, no option at all but a Preference option
# when PREFERENCE is given), radvd for the router advertisements (M and O flags, prefix on-link, no SLAAC: the
# usual Kea site), and dnsmasq for plain DHCPv4. Leases in DIR/kea-leases6.csv (Kea's memfile keeps a line per
# lease change, releases included) and DIR/corp.leases (v4).
corp_kea6() {
	local opts=
	# always-send: Kea sends only options in the client's ORO otherwise, and nobody asks for a Preference.
	[[ -n ${2:-} ]] && opts=", \"option-data\": [{\"name\": \"preference\", \"data\": \"$2\", \"always-send\": true}]"
	cat >"$1/kea6.json" <<-EOF
		{"Dhcp6": {
		  "server-id": {"type": "LL", "persist": false},
		  "interfaces-config": {"interfaces": ["eth0"]},
		  "lease-database": {"type": "memfile", "persist": true, "name": "$1/kea-leases6.csv", "lfc-interval": 0},
		  "preferred-lifetime": 3000, "valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000$opts,
		  "subnet6": [{"id": 1, "subnet": "fd77::/64", "interface": "eth0", "pools": [{"pool": "fd77::200-fd77::2ff"}]}],
		  "loggers": [{"name": "kea-dhcp6", "output_options": [{"output": "stdout"}], "severity": "INFO"}]
		}}
	EOF
	# Kea binds eth0's link-local address once, at start, and listens nowhere if that address is still
	# tentative (DAD runs for a second or two after the link comes up: a Kea scenario run first failed so).
	local _
	for _ in $(seq 40); do
		[[ -z $(e2e_in corp ip -6 addr show dev eth0 scope link tentative) ]] && break
		sleep 0.25
	done
	e2e_bg corp "$1/kea.log" env KEA_LOCKFILE_DIR="$1" KEA_PIDFILE_DIR="$1" kea-dhcp6 -c "$1/kea6.json"
	svc_pids+=("$E2E_PID")
	[[ ${3:-} == kea-only ]] && return 0
	corp_radvd "$1" on off
	e2e_bg corp "$1/corp.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --log-dhcp \
		--interface=eth0 --bind-interfaces --pid-file= --dhcp-leasefile="$1/corp.leases" \
		--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h
	svc_pids+=("$E2E_PID")
}

# corp_radvd DIR MANAGED AUTONOMOUS [OTHER]: radvd advertising fd77::/64 on-link, with the M flag on or off, the
# O flag as M unless OTHER says, and SLAAC (the prefix's A flag) on or off.
corp_radvd() {
	local other=${4:-$2}
	cat >"$1/radvd.conf" <<-EOF
		interface eth0 {
		  AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 10;
		  AdvManagedFlag $2; AdvOtherConfigFlag $other;
		  prefix fd77::/64 { AdvOnLink on; AdvAutonomous $3; };
		};
	EOF
	e2e_in corp sysctl -qw net.ipv6.conf.all.forwarding=1
	e2e_bg corp "$1/radvd.log" radvd -n -m stderr -C "$1/radvd.conf" -p "$1/radvd.pid"
	svc_pids+=("$E2E_PID")
}

# corp_dhcpd DIR [STATEMENT]: ISC dhcpd 4.4 with a config that knows nothing about PXE (but STATEMENT, e.g.
# "next-server 10.77.0.3;"); leases in DIR/corp.leases.
corp_dhcpd() {
	cat >"$1/dhcpd.conf" <<-EOF
		${2:-}
		default-lease-time 3600;
		max-lease-time 7200;
		authoritative;
		subnet 10.77.0.0 netmask 255.255.255.0 { range 10.77.0.100 10.77.0.199; }
		subnet 10.77.1.0 netmask 255.255.255.0 { range 10.77.1.100 10.77.1.199; option routers 10.77.1.1; }
	EOF
	: >"$1/corp.leases"
	e2e_bg corp "$1/corp.log" dhcpd -4 -f -d -cf "$1/dhcpd.conf" -lf "$1/corp.leases" -pf "$1/dhcpd.pid" eth0
	svc_pids+=("$E2E_PID")
}

# start_pxeproxy DIR [VAR=value...]: pxeproxy in namespace pxe, JSON log in DIR/pxeproxy.log.
start_pxeproxy() {
	local dir=$1
	shift
	e2e_bg pxe "$dir/pxeproxy.log" env PXE_INTERFACES=eth0 PXE_TFTP_ROOT="$root" PXE_LOG_FORMAT=json \
		PXE_LOG_LEVEL=debug PXE_HTTP_ADDR=:4011 "$@" "$bin"
	svc_pids+=("$E2E_PID")
	e2e_wait_for "$dir/pxeproxy.log" '"msg":"listening"' 10 "$E2E_PID" && return 0
	why="pxeproxy did not start: $(tail -n 2 "$dir/pxeproxy.log")"
	return 1
}

start_relay() {
	e2e_bg relay "$1/relay.log" dhcrelay -4 -d -id eth1 -iu eth0 10.77.0.2 10.77.0.3
	svc_pids+=("$E2E_PID")
}

start_capture() {
	# On pxeproxy's own link: what it received and what it answered (relayed packets included).
	e2e_bg pxe "$1/tcpdump.log" tcpdump -i eth0 -U -n -w "$1/dhcp.pcap" \
		'udp port 67 or udp port 68 or udp port 4011 or udp port 546 or udp port 547 or icmp6'
	svc_pids+=("$E2E_PID")
	# The whole segment's DHCPv6 (the site server's unicast ADVERTISEs never reach pxeproxy's link).
	e2e_bg sw "$1/bridge.log" tcpdump -i br0 -U -n -w "$1/bridge.pcap" 'udp port 546 or udp port 547'
	svc_pids+=("$E2E_PID")
}

stop_services() {
	local i
	for ((i = ${#svc_pids[@]} - 1; i >= 0; i--)); do
		e2e_kill "${svc_pids[i]}"
	done
	svc_pids=()
}

# ---- clients and proof -------------------------------------------------------------------------------------
# Parallel arrays describing the clients of the running scenario.
c_kind=() c_mac=() c_pid=() c_serial=() c_br=() c_proof=()

add_client() { # KIND BRIDGE DIR
	local kind=$1 br=$2 dir=$3 tap mac
	ntap=$((ntap + 1))
	tap=tap$ntap
	mac=$(e2e_mac "$ntap")
	e2e_done_file "$root" "$mac"
	e2e_tap sw "$br" "$tap"
	e2e_vm sw "$kind" "$tap" "$mac" "$dir/$kind-$ntap.serial" || return 1
	c_kind+=("$kind") c_mac+=("$mac") c_pid+=("$E2E_PID") c_serial+=("$dir/$kind-$ntap.serial") c_br+=("$br")
	# The file whose finished transfer proves the boot: the script's done-<mac>, or for arm64 the boot
	# file itself (Debian has no ARM64 iPXE, so that chain ends at the firmware's download).
	if [[ $kind == arm64 ]]; then
		c_proof+=("$ARM64_FILE")
	else
		c_proof+=("done-$(e2e_hexhyp "$mac")")
	fi
}

# lease_ip LEASEFILE MAC: the address the corporate server leased to MAC (dnsmasq or dhcpd format).
lease_ip() {
	local f=$1 mac=$2
	if grep -q '^lease ' "$f" 2>/dev/null; then
		awk -v mac="$mac" '
			/^lease / { ip = $2 }
			/hardware ethernet/ { m = $3; sub(";", "", m); if (m == mac) found = ip }
			END { if (found != "") print found }' "$f"
	else
		awk -v mac="$mac" '$2 == mac { print $3 }' "$f" 2>/dev/null | tail -n 1
	fi
}

why=
# wait_clients DIR: wait for every client's proof, then check the lease. Sets $why on failure.
wait_clients() {
	local dir=$1 i deadline t ip
	local -a left=("${!c_mac[@]}")
	deadline=$SECONDS
	for i in "${left[@]}"; do
		case ${c_kind[i]} in
		bios) t=$T_BIOS ;;
		uefi6) t=$T_UEFI6 ;;
		*) t=$T_UEFI ;;
		esac
		((SECONDS + t > deadline)) && deadline=$((SECONDS + t))
	done
	while ((${#left[@]} > 0 && SECONDS < deadline)); do
		local -a still=()
		for i in "${left[@]}"; do
			if grep -E '"msg":"tftp transfer"' "$dir/pxeproxy.log" | grep -q "\"file\":\"${c_proof[i]}\""; then
				e2e_kill "${c_pid[i]}"
				continue
			fi
			if ! kill -0 "${c_pid[i]}" 2>/dev/null; then
				why="${c_kind[i]} ${c_mac[i]}: QEMU ended before the final fetch (serial: $(last_serial "${c_serial[i]}"))"
				return 1
			fi
			still+=("$i")
		done
		left=("${still[@]}")
		((${#left[@]} > 0)) && sleep 1
	done
	if ((${#left[@]} > 0)); then
		i=${left[0]}
		why="${c_kind[i]} ${c_mac[i]}: no TFTP fetch of ${c_proof[i]} within the timeout; $(progress "$dir" "${c_mac[i]}"); serial: $(last_serial "${c_serial[i]}")"
		return 1
	fi
	for i in "${!c_mac[@]}"; do
		ip=$(transfer_peer "$dir" "${c_proof[i]}")
		if ! leased_addrs "$dir" "${c_mac[i]}" | grep -qxF -- "$ip"; then
			why="${c_mac[i]}: ${c_proof[i]} was fetched from $ip, which the corporate server did not lease to it (it leased: $(leased_addrs "$dir" "${c_mac[i]}" | tr '\n' ' '))"
			return 1
		fi
		case ${c_br[i]} in
		br0) [[ $ip == 10.77.0.* || $ip == fd77:* ]] ;;
		br1) [[ $ip == 10.77.1.* ]] ;;
		esac || {
			why="${c_mac[i]}: leased $ip on the wrong subnet for ${c_br[i]}"
			return 1
		}
	done
}

# lease6_addrs DIR MAC: the IPv6 addresses the corporate server leased to the client with MAC, by its DUID-UUID
# (e2e_duid_tail), from dnsmasq's log (its lease file forgets released leases, and EDK2 releases its lease when
# the boot file starts) or Kea's lease file (one line per change, releases included).
lease6_addrs() {
	local tail
	tail=$(e2e_duid_tail "$2")
	{
		[[ -f $1/corp.log ]] && awk -v t="$tail" '$3 ~ /^DHCPREPLY/ && $4 ~ /:/ && substr($5, length($5) - length(t) + 1) == t { print $4 }' "$1/corp.log"
		[[ -f $1/kea-leases6.csv ]] && awk -F, -v t="$tail" 'substr($2, length($2) - length(t) + 1) == t { print $1 }' "$1/kea-leases6.csv"
	} | sort -u
}

# leased_addrs DIR MAC: every address, IPv4 and IPv6, the corporate server leased to the client with MAC.
leased_addrs() {
	lease_ip "$1/corp.leases" "$2"
	lease6_addrs "$1" "$2"
}

# transfer_peer DIR FILE: the client address (no port, no brackets) of the last finished transfer of FILE.
transfer_peer() {
	grep -E '"msg":"tftp transfer"' "$1/pxeproxy.log" | grep -E "\"file\":\"$(jre "$2")\"" | tail -n 1 |
		sed -E 's/.*"peer":"\[?([^]"]*[^]:"])\]?:[0-9]+".*/\1/'
}

# progress DIR MAC: what pxeproxy did for MAC so far, for failure messages.
progress() {
	local n
	n=$(grep '"msg":"pxe reply"' "$1/pxeproxy.log" | grep -c "\"mac\":\"$2\"")
	printf 'pxeproxy answered %s %s times; transfers: %s' "$2" "$n" \
		"$(grep -E '"msg":"tftp transfer' "$1/pxeproxy.log" |
			sed -E 's/.*"msg":"([^"]*)".*"file":"([^"]*)".*/\1 \2/' | tr '\n' ';')"
}

last_serial() {
	[[ -f $1 ]] || return 0
	tr -d '\r' <"$1" | sed -E 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | grep -v '^[[:space:]]*$' | tail -n 2 | tr '\n' '|' | cut -c1-200
}

# require_log DIR ERE WHAT: a line of pxeproxy's log must match ERE, within E2E_LOG_GRACE seconds (5): a check
# that follows an event on a client's console races the line it wants (a transfer is logged at the client's
# last ACK, and the log writer flushes every 50 ms), so it waits a little before it says no.
require_log() {
	local end=$((SECONDS + ${E2E_LOG_GRACE:-5}))
	while :; do
		grep -qE -- "$2" "$1/pxeproxy.log" && return 0
		((SECONDS < end)) || break
		sleep 0.2
	done
	why="pxeproxy log has no $3 (after ${E2E_LOG_GRACE:-5}s)"
	return 1
}

# api_verdict ID: "state<TAB>verdict" of the client ID (a MAC or an IP address) as pxeproxy's JSON API judges it
# now (journal/API.md; the HTTP listener is on :4011 in namespace pxe); nothing when it has no such client.
api_verdict() {
	e2e_in pxe curl -fsS --max-time 5 "http://127.0.0.1:4011/api/v1/clients/$1" 2>/dev/null |
		jq -r '[.state, .verdict] | @tsv' 2>/dev/null
}

# require_verdict DIR MAC STATE: pxeproxy's journal must judge MAC's latest boot attempt as STATE (or one of
# "STATE|STATE..."); every verdict read is kept in DIR/verdicts.txt. On failure $why carries the verdict's sentence.
require_verdict() {
	local got
	got=$(api_verdict "$2")
	printf '%s\t%s\n' "$2" "${got:-no such client}" >>"$1/verdicts.txt"
	[[ -n $got && ${got%%$'\t'*} =~ ^($3)$ ]] && return 0
	if [[ -z $got ]]; then
		why="the journal has no client $2 (want verdict $3)"
	else
		why="verdict of $2 is ${got%%$'\t'*}, want $3: ${got#*$'\t'}"
	fi
	return 1
}

# wait_verdict DIR MAC STATE SECS: require_verdict, retried for up to SECS seconds (a verdict that names an
# absence, such as no-request, needs the journal's grace to pass first).
wait_verdict() {
	local end=$((SECONDS + $4))
	until require_verdict "$1" "$2" "$3"; do
		((SECONDS < end)) || return 1
		sleep 2
	done
}

# require_verdicts DIR STATE: every client of the scenario is judged STATE. The whole table goes to
# DIR/clients.json for the artifacts.
require_verdicts() {
	local mac
	e2e_in pxe curl -fsS --max-time 5 http://127.0.0.1:4011/api/v1/clients >"$1/clients.json" 2>/dev/null
	for mac in "${c_mac[@]}"; do
		require_verdict "$1" "$mac" "$2" || return 1
	done
}

# jre STRING: STRING as an ERE matching its JSON encoding (backslashes doubled, then escaped for grep).
jre() { printf '%s' "$1" | sed -e 's/\\/\\\\\\\\/g' -e 's/[].[*^$+?(){}|]/\\&/g'; }

# chain_uefi DIR MAC FILE: the UEFI chain for MAC went through the boot file FILE (as logged) and the script.
chain_uefi() {
	local dir=$1 mac=$2 f
	f=$(jre "$3")
	require_log "$dir" "\"msg\":\"pxe reply\".*\"mac\":\"$mac\".*\"arch\":7,.*\"file\":\"$f\"" \
		"reply to $mac (arch 7) with file $3" || return 1
	require_log "$dir" "\"msg\":\"tftp transfer\".*\"file\":\"$f\"" "finished transfer of $3" || return 1
	require_log "$dir" "\"msg\":\"pxe reply\".*\"mac\":\"$mac\".*\"class\":\"ipxe\".*\"file\":\"boot.ipxe\"" \
		"script reply to $mac as an iPXE client" || return 1
	require_log "$dir" '"msg":"tftp transfer".*"file":"boot.ipxe"' "finished transfer of boot.ipxe"
}

# note4011 DIR MAC: say whether MAC made a port-4011 exchange (EDK2 does when the offer lacks what it wants).
note4011() {
	if grep -E '"msg":"pxe reply"' "$1/pxeproxy.log" | grep "\"mac\":\"$2\"" | grep -q '"svc":"pxe4011"'; then
		echo "4011 used"
	else
		echo "no 4011"
	fi
}

# check_wire DIR: on pxeproxy's link, its replies never carried an address (yiaddr 0.0.0.0 always; tcpdump
# prints "Your-IP" only when yiaddr is set) and, in IPv4 scenarios, there was at least one.
check_wire() {
	local replies
	replies=$(tcpdump -n -vv -r "$1/dhcp.pcap" 'src host 10.77.0.3 and (src port 67 or src port 4011)' 2>/dev/null)
	# An IPv6 scenario may have no IPv4 client left to answer (check_wire6 wants its replies).
	if ! grep -q 'BOOTP/DHCP, Reply' <<<"$replies" && ((!v6)); then
		why="no pxeproxy reply in the capture of its link"
		return 1
	fi
	if grep -q 'Your-IP' <<<"$replies"; then
		why="a pxeproxy reply carried an address: $(grep -m1 'Your-IP' <<<"$replies" | tr -s ' \t' ' ')"
		return 1
	fi
}

# check_wire6 DIR: on pxeproxy's link, every DHCPv6 packet it sent from 547 or 4011 is an ADVERTISE, REPLY or
# RELAY-REPL with option 59 and no IA_NA, IA_TA, IA_PD or Status Code (e2e/pcap6.py), and there was one.
check_wire6() {
	local out
	if ! out=$(python3 "$here/pcap6.py" "$1/dhcp.pcap" --check "$pxe_mac"); then
		why=$out
		return 1
	fi
	note="${note:+$note; }wire: $out"
}

# chain_uefi6 DIR MAC: EDK2 booted over IPv6 through pxeproxy: an ADVERTISE (arch 7, class uefi) and a 4011
# REPLY with tftp://[fd77::3]/snponly.efi, then snponly.efi over TFTP to an IPv6 address the corporate server
# leased to this client, then the iPXE script (over either family). Sets $note to what happened.
chain_uefi6() {
	local dir=$1 mac=$2 ip url blk script
	url=$(jre "tftp://[fd77::3]/snponly.efi")
	require_log "$dir" "\"msg\":\"pxe reply\",\"svc\":\"dhcp6\",\"mac\":\"$mac\".*\"type\":\"ADVERTISE\",\"arch\":7,\"class\":\"uefi\".*\"file\":\"$url\"" \
		"ADVERTISE to $mac (arch 7) with $url" || return 1
	require_log "$dir" "\"msg\":\"pxe reply\",\"svc\":\"pxe6-4011\",\"mac\":\"$mac\".*\"type\":\"REPLY\".*\"file\":\"$url\"" \
		"4011 REPLY to $mac with $url" || return 1
	ip=$(transfer_peer "$dir" snponly.efi)
	if [[ $ip != fd77:* ]] || ! lease6_addrs "$dir" "$mac" | grep -qxF -- "$ip"; then
		why="snponly.efi went to '$ip', not to an IPv6 address leased to $mac ($(lease6_addrs "$dir" "$mac" | tr '\n' ' '))"
		return 1
	fi
	require_log "$dir" "\"msg\":\"pxe reply\".*\"mac\":\"$mac\".*\"class\":\"ipxe\".*\"file\":\"(tftp://\\[fd77::3\\]/)?boot.ipxe\"" \
		"script reply to $mac as an iPXE client" || return 1
	blk=$(grep -E '"msg":"tftp transfer".*"file":"snponly.efi"' "$dir/pxeproxy.log" | tail -n 1 | sed -E 's/.*"blksize":([0-9]+).*"windowsize":([0-9]+).*/\1\/\2/')
	script=$(transfer_peer "$dir" boot.ipxe)
	note="EDK2 PXEv6: lease $ip, ADVERTISE + 4011 REPLY, snponly.efi over IPv6 (blksize/windowsize $blk); iPXE fetched boot.ipxe from $script"
}

# ---- scenarios ---------------------------------------------------------------------------------------------
scenario_bios() {
	corp_dnsmasq "$1"
	start_pxeproxy "$1" || return 1
	add_client bios br0 "$1"
	wait_clients "$1" || return 1
	require_log "$1" "\"msg\":\"pxe reply\".*\"mac\":\"${c_mac[0]}\".*\"arch\":0" "reply to the BIOS client (arch 0)" || return 1
	require_verdicts "$1" booted
}

scenario_uefi() {
	corp_dnsmasq "$1"
	start_pxeproxy "$1" || return 1
	add_client uefi br0 "$1"
	wait_clients "$1" || return 1
	chain_uefi "$1" "${c_mac[0]}" snponly.efi || return 1
	require_verdicts "$1" booted || return 1
	note="snponly.efi -> boot.ipxe -> done, $(note4011 "$1" "${c_mac[0]}")"
}

scenario_three() {
	corp_dnsmasq "$1"
	start_pxeproxy "$1" || return 1
	add_client bios br0 "$1"
	add_client uefi br0 "$1"
	add_client bios br0 "$1"
	wait_clients "$1" || return 1
	chain_uefi "$1" "${c_mac[1]}" snponly.efi || return 1
	require_verdicts "$1" booted
}

scenario_relay() {
	corp_dnsmasq "$1"
	start_pxeproxy "$1" || return 1
	start_relay "$1"
	add_client uefi br1 "$1"
	wait_clients "$1" || return 1
	chain_uefi "$1" "${c_mac[0]}" snponly.efi || return 1
	# RFC 2131 4.1: a relayed request is answered to giaddr:67, the relay's address on the client subnet.
	require_log "$1" "\"msg\":\"pxe reply\".*\"mac\":\"${c_mac[0]}\".*\"peer\":\"10.77.1.1:67\"" \
		"reply to giaddr 10.77.1.1:67" || return 1
	require_verdicts "$1" booted || return 1
	note="via dhcrelay, $(note4011 "$1" "${c_mac[0]}")"
}

scenario_windows() {
	corp_dnsmasq "$1"
	start_pxeproxy "$1" 'PXE_BOOTFILE_UEFI=boot\x64\wdsmgfw.efi' || return 1
	add_client uefi br0 "$1"
	wait_clients "$1" || return 1
	chain_uefi "$1" "${c_mac[0]}" 'boot\x64\wdsmgfw.efi' || return 1
	require_verdicts "$1" booted || return 1
	note="boot\\x64\\wdsmgfw.efi served from boot/x64/wdsmgfw.efi, $(note4011 "$1" "${c_mac[0]}")"
}

scenario_dhcpd() {
	corp_dhcpd "$1"
	start_pxeproxy "$1" || return 1
	add_client bios br0 "$1"
	wait_clients "$1" || return 1
	require_verdicts "$1" booted
}

# scenario_arm64 (the issue's stretch goal): AAVMF's EDK2 PXE on ARM64 gets the arch 11 boot
# file. Debian 12 ships no ARM64 iPXE, so a placeholder is served and the proof is its finished download
# (after the 4011 exchange) to the leased address; EDK2 then fails to start it, which is expected.
scenario_arm64() {
	if ! command -v qemu-system-aarch64 >/dev/null || [[ ! -f $E2E_AAVMF_CODE ]]; then
		why="needs qemu-system-arm and qemu-efi-aarch64"
		return 1
	fi
	corp_dnsmasq "$1"
	start_pxeproxy "$1" "PXE_BOOTFILE_ARM64=$ARM64_FILE" || return 1
	add_client arm64 br0 "$1"
	wait_clients "$1" || return 1
	require_log "$1" "\"msg\":\"pxe reply\".*\"mac\":\"${c_mac[0]}\".*\"arch\":11,.*\"file\":\"$ARM64_FILE\"" \
		"reply to the ARM64 client (arch 11) with $ARM64_FILE" || return 1
	# The VM is stopped once the placeholder is delivered; past the journal's 30 s wait for a next stage (or at
	# once, if EDK2 was quick to try its next boot option) the verdict reads the file's headers: not an EFI
	# executable, so no-return naming PXE_BOOTFILE_ARM64, not secure-boot.
	wait_verdict "$1" "${c_mac[0]}" no-return 60 || return 1
	if ! tail -n 1 "$1/verdicts.txt" | grep -q "$ARM64_FILE is not an EFI executable.*PXE_BOOTFILE_ARM64"; then
		why="verdict of ${c_mac[0]} does not say $ARM64_FILE is not an EFI executable: $(tail -n 1 "$1/verdicts.txt" | cut -f3)"
		return 1
	fi
	note="AAVMF PXE -> $ARM64_FILE (placeholder), $(note4011 "$1" "${c_mac[0]}"), verdict $(tail -n 1 "$1/verdicts.txt" | cut -f2- | sed "s/\t/: /")"
}

# scenario_ipv6: OVMF with its IPv4 PXE switched off boots over IPv6 next to a dnsmasq that leases IPv4 and IPv6
# addresses and sends router advertisements (M, O), and knows nothing about PXE. iPXE then configures both
# families; in this M-flag segment it takes its DHCPv6 options only from the server that leased its address, so
# the script comes over IPv4 (docs/pxe-notes.md §9).
scenario_ipv6() {
	v6=1
	corp_dnsmasq6 "$1"
	start_pxeproxy "$1" || return 1
	add_client uefi6 br0 "$1"
	wait_clients "$1" || return 1
	chain_uefi6 "$1" "${c_mac[0]}" || return 1
	require_verdicts "$1" booted
}

# scenario_kea6: the same boot next to Kea DHCPv6 with radvd (and dnsmasq for DHCPv4 only).
scenario_kea6() {
	if ! command -v kea-dhcp6 >/dev/null || ! command -v radvd >/dev/null; then
		why="needs kea-dhcp6-server and radvd"
		return 1
	fi
	v6=1
	corp_kea6 "$1"
	start_pxeproxy "$1" || return 1
	add_client uefi6 br0 "$1"
	wait_clients "$1" || return 1
	chain_uefi6 "$1" "${c_mac[0]}" || return 1
	require_verdicts "$1" booted
}

# The known limits (docs/pxe-notes.md §9), not in the default list: each passes when the firmware behaves as the
# README says, and its note gives what was seen.

# scenario_slaac: a SLAAC-only segment (radvd, A flag, no M or O, no DHCPv6 server, no DHCPv4): EDK2 takes no
# address from router advertisements for PXE, so pxeproxy's ADVERTISE alone cannot boot it: no 4011 REQUEST,
# no download; EDK2 gives up with PXE-E21 (no offer with an address to select: PxeBcSelectDhcp6Offer).
scenario_slaac() {
	v6=1
	corp_radvd "$1" off on
	start_pxeproxy "$1" || return 1
	add_client uefi6 br0 "$1"
	if ! e2e_wait_for "${c_serial[0]}" 'PXE-E[0-9]+|Start HTTP Boot' "$T_UEFI6" "${c_pid[0]}"; then
		why="EDK2 neither failed nor moved on (serial: $(last_serial "${c_serial[0]}"))"
		return 1
	fi
	require_log "$1" "\"msg\":\"pxe reply\",\"svc\":\"dhcp6\",\"mac\":\"${c_mac[0]}\".*\"type\":\"ADVERTISE\"" \
		"ADVERTISE to ${c_mac[0]}" || return 1
	if grep -qE '"msg":"pxe reply","svc":"pxe6-4011"|"msg":"tftp transfer".*"file":"snponly.efi"' "$1/pxeproxy.log"; then
		why="EDK2 went on with a proxy offer only: the documented limit is wrong"
		return 1
	fi
	# Offered, never asked for: the journal's no-request, once its grace (15 s) after the ADVERTISE has passed.
	wait_verdict "$1" "${c_mac[0]}" no-request 40 || return 1
	note="SLAAC only: $(grep -c '"type":"ADVERTISE"' "$1/pxeproxy.log") ADVERTISE(s) sent, no 4011 REQUEST, serial: $(grep -aoE 'PXE-E[0-9]+[^.]*' "${c_serial[0]}" | head -n 1)"
}

# scenario_pref255: the kea6 site with Kea sending Preference 255 (RFC 8415 18.2.9: the client takes such an
# ADVERTISE at once). Whether EDK2 still boots depends on which ADVERTISE it has when the site's arrives.
scenario_pref255() {
	v6=1
	corp_kea6 "$1" 255
	start_pxeproxy "$1" || return 1
	add_client uefi6 br0 "$1"
	if ! e2e_wait_for "${c_serial[0]}" 'PXE-E[0-9]+|Start HTTP Boot|NBP file downloaded' "$T_UEFI6" "${c_pid[0]}"; then
		why="EDK2 neither booted, failed nor moved on (serial: $(last_serial "${c_serial[0]}"))"
		return 1
	fi
	if grep -aq 'NBP file downloaded' "${c_serial[0]}"; then
		note="Preference 255: EDK2 still booted through pxeproxy"
	else
		note="Preference 255: EDK2 did not boot ($(grep -aoE 'PXE-E[0-9]+[^.]*' "${c_serial[0]}" | head -n 1)), 4011 REPLYs: $(grep -c '"msg":"pxe reply","svc":"pxe6-4011"' "$1/pxeproxy.log")"
	fi
	# When each answer to EDK2's PXE SOLICIT crossed the bridge, and its REQUEST (the selection).
	local xid
	xid=$(python3 "$here/pcap6.py" "$1/bridge.pcap" | grep -m1 "SOLICIT xid=.* vendor='PXEClient" | sed -E 's/.* xid=([0-9a-f]+) .*/\1/')
	note="$note; after the PXE SOLICIT: $(python3 "$here/pcap6.py" "$1/bridge.pcap" | sed -n "/SOLICIT xid=$xid/,\$p" |
		awk -v pxe="$pxe_mac" '/ADVERTISE/ { print $2, ($3 == pxe ? "pxeproxy" : "site"), "ADVERTISE" } /> \[ff02::1:2\]:547 REQUEST/ { print $2, "REQUEST"; exit }' |
		tr '\n' ',' | sed 's/,$//')"
}

# scenario_ipxe6: iPXE over IPv6. A segment whose router advertisement has the O flag only, with SLAAC (radvd),
# Kea leasing addresses to whoever asks (EDK2 always does), no DHCPv4. iPXE then takes a SLAAC address and asks
# for its options with an INFORMATION-REQUEST, which Kea and pxeproxy both answer: iPXE takes the first REPLY.
# Passes when iPXE fetched done-<mac> over IPv6 from its SLAAC address; the note says whose REPLY came first.
scenario_ipxe6() {
	if ! command -v kea-dhcp6 >/dev/null || ! command -v radvd >/dev/null; then
		why="needs kea-dhcp6-server and radvd"
		return 1
	fi
	v6=1
	corp_kea6 "$1" "" kea-only
	corp_radvd "$1" off on on
	start_pxeproxy "$1" || return 1
	add_client uefi6 br0 "$1"
	local slaac peer first
	slaac=$(e2e_slaac fd77:: "${c_mac[0]}")
	if ! e2e_wait_for "$1/pxeproxy.log" "$(e2e_proof_re "${c_mac[0]}")" "$T_UEFI6" "${c_pid[0]}"; then
		why="no fetch of ${c_proof[0]}: $(progress "$1" "${c_mac[0]}"); serial: $(last_serial "${c_serial[0]}")"
		return 1
	fi
	chain_uefi6 "$1" "${c_mac[0]}" || return 1
	# iPXE fetches from its SLAAC address, which nothing joins to its MAC (no DHCPv6 lease, and the neighbour
	# table pxeproxy reads is IPv4's): the journal judges that journey by address.
	require_verdict "$1" "$slaac" booted || return 1
	peer=$(transfer_peer "$1" "${c_proof[0]}")
	if [[ $peer != "$slaac" ]]; then
		why="${c_proof[0]} fetched from $peer, not from iPXE's SLAAC address $slaac"
		return 1
	fi
	first=$(python3 "$here/pcap6.py" "$1/bridge.pcap" | grep -A3 "INFORMATION-REQUEST.*user-class='iPXE'" |
		grep -m1 ' REPLY ' | awk -v pxe="$pxe_mac" '{ print ($3 == pxe ? "pxeproxy" : "Kea") }')
	note="$note; iPXE over IPv6 from $slaac, first REPLY to its INFORMATION-REQUEST: ${first:-?}"
}

# scenario_dual: a dual-stack segment (the dnsmasq of ipv6) and OVMF as shipped, both stacks on: it tries
# "UEFI PXEv4" first and boots over IPv4; pxeproxy answers both families.
scenario_dual() {
	v6=1
	corp_dnsmasq6 "$1"
	start_pxeproxy "$1" || return 1
	add_client uefi br0 "$1"
	wait_clients "$1" || return 1
	chain_uefi "$1" "${c_mac[0]}" snponly.efi || return 1
	require_verdicts "$1" booted || return 1
	note="PXEv4 first: snponly.efi from $(transfer_peer "$1" snponly.efi), $(note4011 "$1" "${c_mac[0]}")"
}

# ---- Linux through the generated menu ------------------------------------------------------------------------
# Debian's network installer (package debian-installer-12-netboot-amd64) in a boot folder with no boot.ipxe:
# iPXE clients get the menu pxeproxy generates, whose default entry (PXE_MENU_DEFAULT) boots it after 2 s.
DI_DIR=${E2E_DI_DIR:-/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64}
DI_ID=linux-debian-12
# console=ttyS0: the kernel's lines on the serial log. auto=true puts the installer's language and keyboard
# questions after the network set-up, priority=critical skips the others (one NIC: no interface question),
# so its first step is a DHCP request on the link.
DI_ARGS="console=ttyS0 auto=true priority=critical interface=auto"
lroot=

# linux_root: the linux scenarios' boot folder (once): Debian's iPXE and linux/debian-12 with the
# installer's kernel and initrd (hard links when /tmp allows), cmdline.txt and title.txt.
linux_root() {
	[[ -n $lroot ]] && return 0
	local d=$E2E_TMP/linux-root f
	mkdir -p "$d/linux/debian-12" || return 1
	for f in undionly.kpxe ipxe.efi snponly.efi; do
		cp "$E2E_IPXE_DIR/$f" "$d/$f" || return 1
	done
	for f in linux initrd.gz; do
		cp -l "$DI_DIR/$f" "$d/linux/debian-12/$f" 2>/dev/null || cp "$DI_DIR/$f" "$d/linux/debian-12/$f" || return 1
	done
	printf '%s\n' "$DI_ARGS" >"$d/linux/debian-12/cmdline.txt"
	printf 'Debian 12 network installer\n' >"$d/linux/debian-12/title.txt"
	lroot=$d
}

# di_dhcp PCAP MAC: the capture holds a DHCP request from MAC with option 60 "d-i": the installer's own
# DHCP client (firmware and iPXE send "PXEClient:...").
di_dhcp() {
	tcpdump -n -vv -r "$1" 'udp dst port 67' 2>/dev/null | awk -v from="Request from $2," '
		function check() { if (index(blk, from) && index(blk, "Vendor-Class (60), length 3: \"d-i\"")) found = 1 }
		/^[0-9]/ { check(); blk = "" }
		{ blk = blk "\n" $0 }
		END { check(); exit !found }'
}

# http_full DIR PATH FILE: pxeproxy logged a whole 200 download of PATH over HTTP (FILE's size).
http_full() {
	local size
	size=$(stat -L -c %s "$3")
	require_log "$1" "\"msg\":\"http request\".*\"file\":\"$(jre "$2")\",\"status\":200,\"bytes\":$size," \
		"whole HTTP download of $2 ($size bytes)"
}

# linux_boot DIR KIND: a KIND client boots the installer through the generated menu.
linux_boot() {
	local dir=$1 kind=$2 serial t0 t_kernel= t_dhcp=
	if [[ ! -f $DI_DIR/linux || ! -f $DI_DIR/initrd.gz ]]; then
		why="needs debian-installer-12-netboot-amd64 ($DI_DIR)"
		return 1
	fi
	linux_root || { why="cannot fill the linux boot folder"; return 1; }
	corp_dnsmasq "$dir"
	start_pxeproxy "$dir" PXE_TFTP_ROOT="$lroot" PXE_MENU_DEFAULT=$DI_ID PXE_MENU_TIMEOUT=2s || return 1
	require_log "$dir" "\"msg\":\"boot menu entries\".*\"$DI_ID\"" "boot menu entry $DI_ID at start" || return 1
	t0=$SECONDS
	# The installer's initrd unpacks into RAM, and with 640 MiB it stops at a "low memory mode" notice
	# even at priority=critical (not with 1 GiB). QEMU only backs the pages the guest touches.
	E2E_QEMU_MEM_BIOS=${E2E_QEMU_MEM_LINUX:-1024} E2E_QEMU_MEM_UEFI=${E2E_QEMU_MEM_LINUX:-1024} \
		add_client "$kind" br0 "$dir" || { why="QEMU did not start"; return 1; }
	serial=${c_serial[0]}
	while ((SECONDS - t0 < T_LINUX)); do
		if [[ -z $t_kernel ]] && grep -qas 'Kernel command line:' "$serial"; then
			t_kernel=$((SECONDS - t0))
		fi
		if [[ -n $t_kernel ]] && di_dhcp "$dir/dhcp.pcap" "${c_mac[0]}"; then
			t_dhcp=$((SECONDS - t0))
			break
		fi
		if ! kill -0 "${c_pid[0]}" 2>/dev/null; then
			why="QEMU ended (serial: $(last_serial "$serial"))"
			return 1
		fi
		sleep 2
	done
	e2e_kill "${c_pid[0]}"
	if [[ -z $t_kernel ]]; then
		why="no 'Kernel command line' on the serial console within ${T_LINUX}s; $(progress "$dir" "${c_mac[0]}"); serial: $(last_serial "$serial")"
		return 1
	fi
	if [[ -z $t_dhcp ]]; then
		why="kernel booted in ${t_kernel}s, but no DHCP request of the installer on the link within ${T_LINUX}s; serial: $(last_serial "$serial")"
		return 1
	fi
	grep -qa 'Linux version ' "$serial" || { why="no 'Linux version' line on the serial console"; return 1; }
	grep -a 'Kernel command line:' "$serial" | grep -q -- "console=ttyS0" ||
		{ why="the kernel command line lacks console=ttyS0 from cmdline.txt"; return 1; }
	# Through the generated menu: boot.ipxe came from pxeproxy, the folder holds none.
	require_log "$dir" '"msg":"tftp transfer".*"file":"boot.ipxe"' "finished transfer of the generated boot.ipxe" || return 1
	grep -qa 'pxeproxy boot menu' "$serial" || { why="the menu's title is not on the serial console"; return 1; }
	http_full "$dir" /linux/debian-12/linux "$lroot/linux/debian-12/linux" || return 1
	http_full "$dir" /linux/debian-12/initrd.gz "$lroot/linux/debian-12/initrd.gz" || return 1
	if grep -E '"msg":"tftp transfer' "$dir/pxeproxy.log" | grep -q '"file":"linux/'; then
		why="kernel or initrd went over TFTP"
		return 1
	fi
	require_verdicts "$dir" booted || return 1
	note="menu -> $DI_ID over HTTP; kernel line at ${t_kernel}s, installer DHCP at ${t_dhcp}s"
}

scenario_linux_bios() { linux_boot "$1" bios; }
scenario_linux_uefi() {
	linux_boot "$1" uefi || return 1
	chain_uefi "$1" "${c_mac[0]}" snponly.efi
}

# Scenarios that need more set-up than a function live in files of their own: e2e/scenario-NAME.sh defines
# scenario_NAME (and may append NAME to ALL_EXTRA to run it by default).
ALL_EXTRA=
for f in "$here"/scenario-*.sh; do
	[[ -e $f ]] || continue
	# shellcheck source=/dev/null
	. "$f"
done
if [[ -z ${E2E_ONLY:-} && -n $ALL_EXTRA ]]; then
	ONLY="$ONLY $ALL_EXTRA"
fi

# ---- driver ------------------------------------------------------------------------------------------------
passed=0 failed=0
for name in $ONLY; do
	fn=scenario_${name//-/_}
	if ! declare -F "$fn" >/dev/null; then
		echo "FAIL $name (0s): unknown scenario (known: $ALL)"
		failed=$((failed + 1))
		continue
	fi
	dir=$art/$name
	mkdir -p "$dir"
	why= note= v6=0
	c_kind=() c_mac=() c_pid=() c_serial=() c_br=() c_proof=()
	start_capture "$dir"
	t0=$SECONDS
	if "$fn" "$dir"; then
		ok=1
	else
		ok=0
	fi
	dt=$((SECONDS - t0))
	for pid in "${c_pid[@]}"; do e2e_kill "$pid"; done
	stop_services
	if ((ok)) && ! check_wire "$dir"; then
		ok=0
	fi
	if ((ok && v6)) && ! check_wire6 "$dir"; then
		ok=0
	fi
	if ((ok)); then
		echo "PASS $name (${dt}s)${note:+ [$note]}"
		passed=$((passed + 1))
	else
		echo "FAIL $name (${dt}s): ${why:-unknown}"
		failed=$((failed + 1))
	fi
done
echo "e2e: $passed passed, $failed failed"
if ((failed > 0)) && [[ -n ${E2E_ARTIFACTS:-} ]]; then
	mkdir -p "$E2E_ARTIFACTS" && cp -r "$art"/. "$E2E_ARTIFACTS"/ && echo "e2e: logs in $E2E_ARTIFACTS" >&2
fi
((failed == 0))
