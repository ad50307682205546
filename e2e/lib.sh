# shellcheck shell=bash
# e2e/lib.sh: reusable pieces for booting real PXE firmware (QEMU, TCG) in network namespaces.
#
# Source it from bash running as root (ideally already inside `unshare --net`):
#     . e2e/lib.sh
#     e2e_init                 # temp dir $E2E_TMP, EXIT trap that kills and deletes everything below
#
# Every process started through these functions is recorded and killed by PID on exit; every namespace
# created through e2e_ns is deleted on exit. Nothing here touches the host's interfaces: all links live in
# namespaces made by e2e_ns (or in the namespace of a PID you name, e.g. a container's).
#
# Namespaces and links
#   e2e_ns SHORT                      create netns "$E2E_PREFIX-SHORT" with lo up; prints nothing. The full
#                                     name is "$(e2e_nsname SHORT)". Namespace names stay unique per run.
#   e2e_nsname SHORT                  print the full netns name.
#   e2e_in SHORT CMD...               run CMD in netns SHORT (foreground).
#   e2e_bridge SHORT BR               create and up bridge BR in netns SHORT.
#   e2e_link SWSHORT BR TARGET IF CIDR [GW]
#                                     veth pair: one end enslaved to bridge BR in netns SWSHORT, the other
#                                     moved into TARGET, named IF, given CIDR (e.g. 10.77.0.3/24), up, and a
#                                     default route via GW if given. TARGET is a short netns name made by
#                                     e2e_ns or "pid:N" for the network namespace of process N (e.g. the
#                                     PID of a Docker container's init: docker inspect -f '{{.State.Pid}}').
#   e2e_tap SWSHORT BR TAP            create tap TAP in netns SWSHORT on bridge BR (QEMU attaches to it).
#
# Processes
#   e2e_bg SHORT LOG CMD...           start CMD in the background in netns SHORT ("-" = current netns),
#                                     stdout+stderr to LOG; its PID is recorded and left in $E2E_PID.
#   e2e_kill PID                      TERM, then KILL after 3 s, one PID.
#   e2e_wait_for FILE ERE SECS [PID]  wait until FILE has a line matching ERE (grep -E); returns 1 after
#                                     SECS seconds or as soon as PID (if given) has exited.
#
# Clients
#   e2e_vm SWSHORT KIND TAP MAC SERIALLOG
#                                     boot one QEMU client (TCG) on tap TAP (made by e2e_tap) in netns
#                                     SWSHORT. KIND: bios = SeaBIOS + iPXE virtio NIC ROM (pxe-virtio.rom);
#                                     uefi = OVMF with EDK2's own network stack (virtio-net, romfile empty,
#                                     NIC first in the boot order); arm64 = AAVMF (qemu-system-aarch64, virt,
#                                     qemu-efi-aarch64), same EDK2 PXE; uefi6 = uefi with EDK2's IPv4 PXE switched
#                                     off (fw_cfg opt/org.tianocore/IPv4PXESupport=n), so "UEFI PXEv6" boots
#                                     first; uefi-sb = uefi with Secure Boot enforced (OVMF secboot code,
#                                     Microsoft keys, q35 with SMM, secure pflash). Serial console goes to
#                                     SERIALLOG. PID in $E2E_PID. The VM never reboots (-no-reboot): a failed boot ends QEMU. UEFI VMs get the SMBIOS
#                                     UUID e2e_uuid MAC, which EDK2 and iPXE put in their DHCPv6 DUID-UUID.
#   e2e_mac N                         print the deterministic client MAC 52:54:00:e2:00:NN (N < 256).
#   e2e_hexhyp MAC                    print MAC as iPXE's ${mac:hexhyp} renders it (52-54-00-e2-00-01).
#   e2e_uuid MAC                      print the VM's SMBIOS UUID, e2e00000-0000-4000-8000-<MAC hex>.
#   e2e_slaac PREFIX:: MAC            print the SLAAC (modified EUI-64) address of MAC in PREFIX::/64.
#   e2e_duid_tail MAC                 print the last 8 bytes of its DUID-UUID as dnsmasq and Kea write them
#                                     (80:00:52:54:00:e2:00:01): the UUID's first fields may be byte-swapped.
#
#   e2e_boot_proof SWSHORT BR KIND N TFTPROOT LOG SECS
#                                     one whole client run for other suites (e.g. dockertest): tap "tapN" on
#                                     bridge BR, MAC e2e_mac N, done file in TFTPROOT (the folder pxeproxy
#                                     serves, e.g. bind-mounted into a container), boot KIND, wait up to SECS
#                                     for pxeproxy's log LOG (json or text format) to show the finished
#                                     transfer of done-<mac>, kill the VM. Returns 0 on proof; serial console
#                                     in $E2E_TMP/KIND-N.serial.
#   e2e_proof_re MAC                  the ERE that e2e_boot_proof waits for.
#
# Example, pxeproxy already running in a container whose init has PID $cpid, TFTP root bind-mounted from
# $root (which e2e_tftp_root filled), and its log in $log:
#     e2e_init; e2e_ns sw; e2e_bridge sw br0
#     e2e_link sw br0 pid:$cpid eth1 10.77.0.3/24
#     e2e_ns corp; e2e_link sw br0 corp eth0 10.77.0.2/24
#     e2e_bg corp "$E2E_TMP/corp.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
#         --interface=eth0 --bind-interfaces --dhcp-range=10.77.0.100,10.77.0.199,1h \
#         --dhcp-leasefile="$E2E_TMP/leases" --pid-file=
#     e2e_boot_proof sw br0 bios 1 "$root" "$log" 120 && echo booted
#
# iPXE proof script
#   e2e_tftp_root DIR                 fill DIR with undionly.kpxe, ipxe.efi, snponly.efi (Debian's ipxe) and
#                                     boot.ipxe, whose last step fetches "done-${mac:hexhyp}" relative to the
#                                     script's own URL. Only a running script can build that name. Call
#                                     e2e_done_file DIR MAC for each client so that the fetch succeeds.
#   e2e_done_file DIR MAC             create DIR/done-<hexhyp MAC>.
#
# Environment knobs: E2E_QEMU_MEM_BIOS (default 128), E2E_QEMU_MEM_UEFI (default 256),
# E2E_OVMF_CODE / E2E_OVMF_VARS (defaults: Debian's 4M builds), E2E_BIOS_ROM (default pxe-virtio.rom).

E2E_PREFIX=${E2E_PREFIX:-pxe-e2e-$$}
E2E_PIDS=()
E2E_NSS=()
E2E_PID=
E2E_KEEP=${E2E_KEEP:-}

e2e_log() { printf '%s e2e: %s\n' "$(date +%T)" "$*" >&2; }

e2e_init() {
	E2E_TMP=$(mktemp -d /tmp/pxe-e2e.XXXXXX)
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
}

e2e_cleanup() {
	local pid ns i
	for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${E2E_PIDS[i]}
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${E2E_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	E2E_PIDS=()
	for ns in "${E2E_NSS[@]}"; do
		ip netns delete "$ns" 2>/dev/null
	done
	E2E_NSS=()
	if [[ -n ${E2E_TMP:-} && -d $E2E_TMP ]]; then
		if [[ -n $E2E_KEEP ]]; then
			e2e_log "kept $E2E_TMP"
		else
			rm -rf "$E2E_TMP"
		fi
	fi
}

e2e_nsname() { printf '%s-%s' "$E2E_PREFIX" "$1"; }

e2e_ns() {
	local ns
	ns=$(e2e_nsname "$1")
	ip netns add "$ns" || return 1
	E2E_NSS+=("$ns")
	ip -n "$ns" link set lo up
}

e2e_in() {
	local ns=$1
	shift
	ip netns exec "$(e2e_nsname "$ns")" "$@"
}

e2e_bridge() {
	local ns
	ns=$(e2e_nsname "$1")
	ip -n "$ns" link add "$2" type bridge || return 1
	# Forward immediately: a PXE ROM gives up long before STP's 30 s listening/learning would end.
	ip -n "$ns" link set "$2" type bridge forward_delay 0 stp_state 0
	ip -n "$ns" link set "$2" up
}

# _e2e_target_ip TARGET: print the argument list that runs `ip` in TARGET.
_e2e_target_ip() {
	case $1 in
	pid:*) printf '%s\n' nsenter -t "${1#pid:}" -n ip ;;
	*) printf '%s\n' ip -n "$(e2e_nsname "$1")" ;;
	esac
}

e2e_link() {
	local sw br target ifname cidr gw swns tmpif netns_arg
	sw=$1 br=$2 target=$3 ifname=$4 cidr=$5 gw=${6:-}
	swns=$(e2e_nsname "$sw")
	# Temporary names unique within the switch namespace; the peer is renamed once moved.
	tmpif="v${RANDOM}${#E2E_PIDS[@]}"
	case $target in
	pid:*) netns_arg=${target#pid:} ;;
	*) netns_arg=$(e2e_nsname "$target") ;;
	esac
	ip -n "$swns" link add "${tmpif}s" type veth peer name "${tmpif}p" || return 1
	ip -n "$swns" link set "${tmpif}s" master "$br" up
	ip -n "$swns" link set "${tmpif}p" netns "$netns_arg" || return 1
	local -a tip
	mapfile -t tip < <(_e2e_target_ip "$target")
	"${tip[@]}" link set "${tmpif}p" name "$ifname"
	"${tip[@]}" addr add "$cidr" dev "$ifname"
	"${tip[@]}" link set "$ifname" up
	if [[ -n $gw ]]; then
		"${tip[@]}" route add default via "$gw"
	fi
}

e2e_tap() {
	local ns
	ns=$(e2e_nsname "$1")
	ip -n "$ns" tuntap add dev "$3" mode tap || return 1
	ip -n "$ns" link set "$3" master "$2" up
}

e2e_bg() {
	local ns=$1 log=$2
	shift 2
	if [[ $ns == - ]]; then
		"$@" >"$log" 2>&1 &
	else
		# ip netns exec execs the command: $! is the command's own PID.
		ip netns exec "$(e2e_nsname "$ns")" "$@" >"$log" 2>&1 &
	fi
	E2E_PID=$!
	E2E_PIDS+=("$E2E_PID")
}

e2e_kill() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

e2e_wait_for() {
	local file=$1 re=$2 secs=$3 pid=${4:-} end
	end=$((SECONDS + secs))
	while ((SECONDS < end)); do
		if [[ -f $file ]] && grep -qE -- "$re" "$file"; then
			return 0
		fi
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			# One last look: the line may have landed just before the process ended.
			[[ -f $file ]] && grep -qE -- "$re" "$file" && return 0
			return 1
		fi
		sleep 0.5
	done
	return 1
}

e2e_mac() { printf '52:54:00:e2:00:%02x' "$1"; }

e2e_hexhyp() { printf '%s' "${1//:/-}" | tr 'A-F' 'a-f'; }

e2e_uuid() { printf 'e2e00000-0000-4000-8000-%s' "${1//:/}"; }

# e2e_slaac PREFIX:: MAC: the modified EUI-64 address a client makes from MAC in PREFIX::/64 (RFC 4291 app. A),
# in Go's and pxeproxy's text form.
e2e_slaac() {
	local -a b
	IFS=: read -r -a b <<<"$2"
	python3 -c 'import ipaddress,sys; p,m=sys.argv[1],bytes.fromhex(sys.argv[2]); print(ipaddress.IPv6Address(ipaddress.IPv6Address(p).packed[:8]+bytes([m[0]^2])+m[1:3]+bytes([0xff,0xfe])+m[3:6]))' "$1" "${b[*]// /}"
}

e2e_duid_tail() { printf '80:00:%s' "$1" | tr 'A-F' 'a-f'; }

E2E_IPXE_DIR=${E2E_IPXE_DIR:-/usr/lib/ipxe}
E2E_BIOS_ROM=${E2E_BIOS_ROM:-/usr/lib/ipxe/qemu/pxe-virtio.rom}
E2E_OVMF_CODE=${E2E_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
E2E_OVMF_VARS=${E2E_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
E2E_OVMF_SB_CODE=${E2E_OVMF_SB_CODE:-/usr/share/OVMF/OVMF_CODE_4M.secboot.fd}
E2E_OVMF_SB_VARS=${E2E_OVMF_SB_VARS:-/usr/share/OVMF/OVMF_VARS_4M.ms.fd}
E2E_AAVMF_CODE=${E2E_AAVMF_CODE:-/usr/share/AAVMF/AAVMF_CODE.fd}
E2E_AAVMF_VARS=${E2E_AAVMF_VARS:-/usr/share/AAVMF/AAVMF_VARS.fd}

e2e_vm() {
	local sw=$1 kind=$2 tap=$3 mac=$4 serial=$5
	local -a args=(
		qemu-system-x86_64 -accel tcg -nodefaults -no-user-config -display none -no-reboot
		-serial "file:$serial" -monitor none
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no"
	)
	case $kind in
	bios)
		# SeaBIOS reads etc/sercon-port as a binary little-endian integer (romfile_loadint): 0x3f8 mirrors
		# its text console, and so the iPXE ROM's, onto the serial log.
		[[ -f $E2E_TMP/sercon-port ]] || printf '\xf8\x03' >"$E2E_TMP/sercon-port"
		# disable-legacy=on: Debian's pxe-virtio.rom carries PCI ID 1af4:1041 (modern virtio-net) and
		# SeaBIOS skips a ROM whose ID does not match the device, so the transitional 1af4:1000 that QEMU
		# makes by default never runs it (SeaBIOS debug log: no "Running option rom" for 00:02.0).
		args+=(-m "${E2E_QEMU_MEM_BIOS:-128}" -fw_cfg "name=etc/sercon-port,file=$E2E_TMP/sercon-port"
			-device "virtio-net-pci,netdev=n0,mac=$mac,romfile=$E2E_BIOS_ROM,disable-legacy=on,bootindex=1")
		;;
	uefi | uefi6 | uefi-sb)
		local vars="$E2E_TMP/ovmf-vars-${tap}.fd" code=$E2E_OVMF_CODE machine=q35
		if [[ $kind == uefi-sb ]]; then
			# The secboot build keeps its variable store in SMM, so it needs smm=on and a pflash that only
			# SMM code may write (secure=on); the .ms vars hold Microsoft's keys with Secure Boot enabled.
			code=$E2E_OVMF_SB_CODE machine=q35,smm=on
			cp "$E2E_OVMF_SB_VARS" "$vars" || return 1
			args+=(-global driver=cfi.pflash01,property=secure,value=on)
		else
			cp "$E2E_OVMF_VARS" "$vars" || return 1
		fi
		# romfile= (empty) keeps QEMU's iPXE ROM off the NIC, so EDK2's own PXE stack (PxeBcDxe) boots.
		args+=(-m "${E2E_QEMU_MEM_UEFI:-256}" -machine "$machine" -uuid "$(e2e_uuid "$mac")"
			-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
			-drive "if=pflash,format=raw,unit=1,file=$vars"
			-device "virtio-net-pci,netdev=n0,mac=$mac,romfile=,bootindex=1")
		if [[ $kind == uefi6 ]]; then
			# OvmfPkg PxeBcPcdProducerLib reads it into PcdIPv4PXESupport (OVMF 2020 and later): no "UEFI
			# PXEv4" boot option, so the NIC's first one is "UEFI PXEv6".
			args+=(-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n)
		fi
		;;
	arm64)
		local vars="$E2E_TMP/aavmf-vars-${tap}.fd"
		cp "$E2E_AAVMF_VARS" "$vars" || return 1
		# The same EDK2 PXE stack on ARM64 (option 93 = 11); romfile= for the same reason as uefi.
		args[0]=qemu-system-aarch64
		args+=(-m "${E2E_QEMU_MEM_ARM64:-512}" -machine virt -cpu cortex-a57
			-drive "if=pflash,format=raw,unit=0,readonly=on,file=$E2E_AAVMF_CODE"
			-drive "if=pflash,format=raw,unit=1,file=$vars"
			-device "virtio-net-pci,netdev=n0,mac=$mac,romfile=,bootindex=1")
		;;
	*)
		e2e_log "e2e_vm: unknown kind $kind"
		return 1
		;;
	esac
	e2e_bg "$sw" "$serial.qemu" "${args[@]}"
}

e2e_tftp_root() {
	local dir=$1 f
	mkdir -p "$dir" || return 1
	for f in undionly.kpxe ipxe.efi snponly.efi; do
		cp "$E2E_IPXE_DIR/$f" "$dir/$f" || return 1
	done
	# The relative name resolves against the script's own URL (iPXE cwuri), so the final fetch goes to
	# the same server and protocol that served the script.
	cat >"$dir/boot.ipxe" <<'EOF'
#!ipxe
echo e2e: script running on ${mac} ip ${ip} next-server ${next-server} proxydhcp/next-server ${proxydhcp/next-server}
imgfetch done-${mac:hexhyp} && echo e2e: DONE ${mac:hexhyp} || echo e2e: final fetch failed
sleep 600
EOF
}

e2e_done_file() {
	printf 'done\n' >"$1/done-$(e2e_hexhyp "$2")"
}

e2e_proof_re() {
	# JSON: "msg":"tftp transfer","svc":...,"file":"done-..."; text: msg="tftp transfer" ... file=done-...
	# The quote after "transfer" excludes "tftp transfer failed".
	printf 'tftp transfer"[, ].*done-%s' "$(e2e_hexhyp "$1")"
}

e2e_boot_proof() {
	local sw=$1 br=$2 kind=$3 n=$4 root=$5 log=$6 secs=$7 mac vm rc=0
	mac=$(e2e_mac "$n")
	e2e_done_file "$root" "$mac" || return 1
	e2e_tap "$sw" "$br" "tap$n" || return 1
	e2e_vm "$sw" "$kind" "tap$n" "$mac" "$E2E_TMP/$kind-$n.serial" || return 1
	vm=$E2E_PID
	e2e_wait_for "$log" "$(e2e_proof_re "$mac")" "$secs" "$vm" || rc=1
	e2e_kill "$vm"
	ip -n "$(e2e_nsname "$sw")" link del "tap$n" 2>/dev/null
	return $rc
}
