# shellcheck shell=bash
# e2e/scenario-secureboot.sh: OVMF with Secure Boot enforced (VM kind uefi-sb: OVMF_CODE_4M.secboot.fd with the
# Microsoft keys of OVMF_VARS_4M.ms.fd, q35 with SMM, secure pflash) boots through pxeproxy. Sourced by run.sh.
# Each scenario asserts the client's verdict through pxeproxy's API (GET /api/v1/clients/MAC) and the serial
# console:
#   secureboot               the default unsigned snponly.efi: "Access Denied", verdict secure-boot
#   secureboot-shim          Debian's signed shim as the UEFI boot file, signed GRUB beside it as grubx64.efi, a
#                            site server that names no TFTP server (ISC dhcpd, siaddr 0): shim fetches GRUB from
#                            pxeproxy, GRUB asks nobody and stops at "grub>", verdict no-return; the note says
#                            what GRUB asked, and whom
#   secureboot-grub          the same with ISC dhcpd setting only next-server = pxeproxy: GRUB reads grub/grub.cfg
#                            from pxeproxy, verdict booted, no conflict warning
#   secureboot-dnsmasq-next  the same with dnsmasq's dhcp-boot=,,10.77.0.3 (next-server only)
#   secureboot-linux         secureboot-grub whose grub.cfg boots Debian's signed installer kernel (no initrd):
#                            the kernel's lines on the serial console, Secure Boot enabled
ALL_EXTRA="${ALL_EXTRA:+$ALL_EXTRA }secureboot secureboot-grub"

SB_SHIM=${E2E_SB_SHIM:-/usr/lib/shim/shimx64.efi.signed}
# The network build of Debian's signed GRUB: it asks for /grub/x86_64-efi/*.lst, then /grub/grub.cfg, from the
# siaddr of the site server's DHCP answer it finds in the firmware (measured: never the proxy offer's).
SB_GRUB=${E2E_SB_GRUB:-/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed}
# How long the journal needs before a delivered loader that asks for nothing more has its verdict (its
# returnGrace is 30 s), plus the time to poll.
T_SB_VERDICT=${E2E_TIMEOUT_SB_VERDICT:-60}

# sb_root DIR [GRUBCFG]: the signed chain's boot folder, DIR/tftp: shimx64.efi, grubx64.efi, the installer's
# signed kernel as linux, and grub/grub.cfg holding GRUBCFG when given.
sb_root() {
	local d=$1/tftp
	if [[ ! -f $SB_SHIM || ! -f $SB_GRUB ]]; then
		why="needs shim-signed and grub-efi-amd64-signed ($SB_SHIM, $SB_GRUB)"
		return 1
	fi
	mkdir -p "$d/grub" || return 1
	cp "$SB_SHIM" "$d/shimx64.efi" && cp "$SB_GRUB" "$d/grubx64.efi" || return 1
	if [[ -f $DI_DIR/linux ]]; then
		cp -l "$DI_DIR/linux" "$d/linux" 2>/dev/null || cp "$DI_DIR/linux" "$d/linux" || return 1
	fi
	if [[ -n ${2:-} ]]; then
		printf '%s\n' "$2" >"$d/grub/grub.cfg"
	fi
}

# sb_start DIR [VAR=value...]: the TFTP capture on the bridge (whom GRUB asks, pxeproxy or the site server),
# then pxeproxy serving DIR/tftp with shimx64.efi as the UEFI x64 boot file.
sb_start() {
	local dir=$1
	shift
	e2e_bg sw "$dir/tftp-capture.log" tcpdump -i br0 -U -n -w "$dir/tftp.pcap" 'udp port 69'
	svc_pids+=("$E2E_PID")
	start_pxeproxy "$dir" PXE_TFTP_ROOT="$dir/tftp" PXE_BOOTFILE_UEFI=shimx64.efi "$@"
}

# sb_rrqs DIR: the TFTP read requests seen on the bridge, "file -> server" each, in order.
sb_rrqs() {
	tcpdump -n -r "$1/tftp.pcap" 2>/dev/null | sed -nE 's/.* > ([0-9.]+)\.69: .*RRQ "([^"]*)".*/\2 -> \1/p' | uniq
}

# sb_verdict DIR MAC STATE SECS: poll pxeproxy's API until the client's state is STATE. The last answer is
# left in $sb_json and DIR/api-client.json; on failure $why says what the API said instead.
sb_verdict() {
	local dir=$1 mac=$2 want=$3 end=$((SECONDS + $4)) state=
	while ((SECONDS < end)); do
		sb_json=$(e2e_in pxe curl -sf --max-time 3 "http://10.77.0.3:4011/api/v1/clients/$mac")
		printf '%s\n' "$sb_json" >"$dir/api-client.json"
		state=$(jq -r '.state // empty' <<<"$sb_json" 2>/dev/null)
		[[ $state == "$want" ]] && return 0
		sleep 2
	done
	why="API: $mac is '${state:-unknown}' ($(jq -r '.verdict // empty' <<<"$sb_json" 2>/dev/null)) after ${4}s, not $want"
	return 1
}

# sb_serial N ERE SECS WHAT: the serial console of client N shows ERE within SECS.
sb_serial() {
	e2e_wait_for "${c_serial[$1]}" "$2" "$3" "${c_pid[$1]}" && return 0
	why="no '$4' on the serial console within ${3}s; $(progress "$dir" "${c_mac[$1]}"); serial: $(last_serial "${c_serial[$1]}")"
	return 1
}

# sb_console N: client N's serial console as text (GRUB draws with escape sequences mid-line).
sb_console() {
	tr -d '\r' <"${c_serial[$1]}" | sed -E 's/\x1b\[[0-9;?]*[a-zA-Z]//g'
}

# sb_chain DIR MAC: shim came from pxeproxy's offer and fetched GRUB from pxeproxy.
sb_chain() {
	require_log "$1" "\"msg\":\"pxe reply\".*\"mac\":\"$2\".*\"arch\":7,.*\"file\":\"shimx64.efi\"" \
		"reply to $2 (arch 7) with shimx64.efi" || return 1
	require_log "$1" '"msg":"tftp transfer".*"file":"shimx64.efi"' "finished transfer of shimx64.efi" || return 1
	require_log "$1" '"msg":"tftp transfer".*"file":"grubx64.efi"' "finished transfer of grubx64.efi (shim's request)"
}

# sb_grub_cfg DIR: GRUB read grub/grub.cfg from pxeproxy, at the address the site server leased to the client
# (c_mac[0]), and no conflict was reported: a lone next-server in the site server's lease is not a boot offer.
sb_grub_cfg() {
	local dir=$1 ip leased
	# GRUB asks with a leading slash, from its prefix /grub.
	require_log "$dir" '"msg":"tftp transfer".*"file":"/grub/grub.cfg"' "finished transfer of /grub/grub.cfg" || return 1
	ip=$(transfer_peer "$dir" /grub/grub.cfg)
	leased=$(lease_ip "$dir/corp.leases" "${c_mac[0]}")
	if [[ $ip != "$leased" ]]; then
		why="/grub/grub.cfg went to $ip, not to the address leased to ${c_mac[0]} ($leased)"
		return 1
	fi
	if grep -q 'conflicts with pxeproxy' "$dir/pxeproxy.log"; then
		why="conflict warning: $(grep -m1 'conflicts with pxeproxy' "$dir/pxeproxy.log" | cut -c1-300)"
		return 1
	fi
}

# The grub.cfg of the next-server scenarios: a marker on the console, then nothing (GRUB shows its prompt).
SB_GRUB_MARK='echo "e2e: GRUB read grub.cfg from ${net_default_server} as ${net_default_ip}"'

scenario_secureboot() {
	corp_dnsmasq "$1"
	start_pxeproxy "$1" || return 1
	add_client uefi-sb br0 "$1"
	local t0=$SECONDS
	sb_serial 0 'Access Denied' "$T_UEFI" "Access Denied" || return 1
	local t_denied=$((SECONDS - t0))
	if ! require_log "$1" '"msg":"tftp transfer".*"file":"snponly.efi"' "finished transfer of snponly.efi"; then
		why="$why; its lines for snponly.efi: $(grep -a 'snponly.efi' "$1/pxeproxy.log" | tail -n 3 | cut -c1-300 | tr '\n' ' ')"
		return 1
	fi
	sb_verdict "$1" "${c_mac[0]}" secure-boot "$T_SB_VERDICT" || return 1
	if grep -q '"msg":"tftp transfer".*"file":"boot.ipxe"' "$1/pxeproxy.log"; then
		why="iPXE ran under Secure Boot: boot.ipxe was fetched"
		return 1
	fi
	# What the firmware did after the refusal, as the journal recorded it (DHCPv6 SOLICIT: port 547).
	note="Access Denied at ${t_denied}s, then: $(jq -r '.timeline as $t | ($t | map(.kind == "transfer" and .result == "ok") | index(true)) as $i |
		[$t[$i + 1:][] | select(.kind == "discover") | "\(.port)/\(.class // "?")"] | join(" ")' <<<"$sb_json"); verdict: $(jq -r .verdict <<<"$sb_json")"
}

# scenario_secureboot_shim: ISC dhcpd with no next-server. (dnsmasq, as corp_dnsmasq runs it, puts its own
# address in siaddr: GRUB then asks it for grub.cfg and retries for minutes before its prompt.)
scenario_secureboot_shim() {
	sb_root "$1" || return 1
	corp_dhcpd "$1"
	sb_start "$1" || return 1
	add_client uefi-sb br0 "$1"
	e2e_wait_for "$1/pxeproxy.log" '"msg":"tftp transfer".*"file":"grubx64.efi"' "$T_UEFI" "${c_pid[0]}" ||
		{ why="shim did not fetch grubx64.efi: $(progress "$1" "${c_mac[0]}"); serial: $(last_serial "${c_serial[0]}")"; return 1; }
	sb_chain "$1" "${c_mac[0]}" || return 1
	sb_verdict "$1" "${c_mac[0]}" no-return "$T_SB_VERDICT" || return 1
	sb_serial 0 'grub>' "$T_UEFI" "grub>" || return 1
	if grep -qE '"msg":"tftp transfer.*"file":"[^"]*grub[^"]*\.(cfg|lst)"' "$1/pxeproxy.log"; then
		why="GRUB asked pxeproxy for its files: the documented limit is wrong"
		return 1
	fi
	local asked
	asked=$(sb_rrqs "$1" | grep -v -e shimx64.efi -e revocations -e shim_certificate -e grubx64.efi | tr '\n' ';')
	note="GRUB asked: ${asked:-nothing (no TFTP request on the segment)}; verdict: $(jq -r .verdict <<<"$sb_json")"
}

# sb_next DIR: the signed chain next to a site server that sets next-server (only) to pxeproxy's address.
sb_next() {
	add_client uefi-sb br0 "$1"
	sb_serial 0 'e2e: GRUB read grub.cfg' "$T_UEFI" "e2e: GRUB read grub.cfg" || return 1
	sb_chain "$1" "${c_mac[0]}" || return 1
	sb_grub_cfg "$1" || return 1
	sb_verdict "$1" "${c_mac[0]}" booted "$T_SB_VERDICT" || return 1
	note="$(sb_console 0 | grep -o 'e2e: GRUB read grub.cfg.*' | head -n 1); verdict: $(jq -r .verdict <<<"$sb_json")"
}

scenario_secureboot_grub() {
	sb_root "$1" "$SB_GRUB_MARK" || return 1
	corp_dhcpd "$1" "next-server 10.77.0.3;"
	sb_start "$1" || return 1
	sb_next "$1"
}

scenario_secureboot_dnsmasq_next() {
	sb_root "$1" "$SB_GRUB_MARK" || return 1
	corp_dnsmasq "$1" --dhcp-boot=,,10.77.0.3
	sb_start "$1" || return 1
	sb_next "$1"
}

scenario_secureboot_linux() {
	if [[ ! -f $DI_DIR/linux ]]; then
		why="needs debian-installer-12-netboot-amd64 ($DI_DIR)"
		return 1
	fi
	# No initrd: the kernel's own lines are the proof, and it stops at mounting a root it does not have.
	sb_root "$1" "$SB_GRUB_MARK
linux /linux console=ttyS0 earlyprintk=serial,ttyS0 e2e-secureboot
boot" || return 1
	corp_dhcpd "$1" "next-server 10.77.0.3;"
	sb_start "$1" || return 1
	E2E_QEMU_MEM_UEFI=${E2E_QEMU_MEM_LINUX:-1024} add_client uefi-sb br0 "$1"
	local t0=$SECONDS
	sb_serial 0 'Kernel command line:.*e2e-secureboot' "$T_LINUX" "Kernel command line" || return 1
	local t_kernel=$((SECONDS - t0))
	sb_serial 0 'Secure boot enabled' 30 "Secure boot enabled" || return 1
	sb_chain "$1" "${c_mac[0]}" || return 1
	require_log "$1" '"msg":"tftp transfer".*"file":"/linux"' "finished transfer of /linux" || return 1
	sb_verdict "$1" "${c_mac[0]}" booted "$T_SB_VERDICT" || return 1
	note="kernel line at ${t_kernel}s, $(grep -ao 'secureboot: Secure boot enabled' "${c_serial[0]}" | head -n 1); verdict: $(jq -r .verdict <<<"$sb_json")"
}
