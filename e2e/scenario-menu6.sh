# shellcheck shell=bash
# e2e/scenario-menu6.sh, sourced by e2e/run.sh: iPXE on IPv6 alone boots through the generated menu (issues #17
# and #18). The segment of scenario ipxe6 (radvd with the O and A flags, Kea leasing to EDK2, no DHCPv4) and the
# boot folder of the linux scenarios (Debian's installer as PXE_MENU_DEFAULT, no boot.ipxe). iPXE there has no
# DHCPv4 settings, so the menu finds no server address for its HTTP base and loads the kernel and initrd by
# paths relative to its own URL, tftp://[fd77::3]/boot.ipxe. Proof: the kernel's lines on the serial console,
# and the menu, kernel and initrd fetched over TFTP by iPXE's SLAAC address. On request only (E2E_ONLY=menu6):
# like ipxe6 it needs pxeproxy's REPLY to iPXE's INFORMATION-REQUEST to come before Kea's.
scenario_menu6() {
	local slaac f peer
	if ! command -v kea-dhcp6 >/dev/null || ! command -v radvd >/dev/null; then
		why="needs kea-dhcp6-server and radvd"
		return 1
	fi
	if [[ ! -f $DI_DIR/linux || ! -f $DI_DIR/initrd.gz ]]; then
		why="needs debian-installer-12-netboot-amd64 ($DI_DIR)"
		return 1
	fi
	linux_root || { why="cannot fill the linux boot folder"; return 1; }
	v6=1
	corp_kea6 "$1" "" kea-only
	corp_radvd "$1" off on on
	start_pxeproxy "$1" PXE_TFTP_ROOT="$lroot" PXE_MENU_DEFAULT=$DI_ID PXE_MENU_TIMEOUT=2s || return 1
	E2E_QEMU_MEM_UEFI=${E2E_QEMU_MEM_LINUX:-1024} add_client uefi6 br0 "$1" || { why="QEMU did not start"; return 1; }
	slaac=$(e2e_slaac fd77:: "${c_mac[0]}")
	if ! e2e_wait_for "${c_serial[0]}" 'Kernel command line:' $((T_UEFI6 + T_LINUX)) "${c_pid[0]}"; then
		why="no 'Kernel command line' on the serial console; $(progress "$1" "${c_mac[0]}"); serial: $(last_serial "${c_serial[0]}")"
		return 1
	fi
	for f in boot.ipxe linux/debian-12/linux linux/debian-12/initrd.gz; do
		peer=$(transfer_peer "$1" "$f")
		if [[ $peer != "$slaac" ]]; then
			why="$f not fetched over TFTP by iPXE's SLAAC address $slaac (last TFTP peer: ${peer:-none})"
			return 1
		fi
	done
	note="iPXE over IPv6 alone from $slaac: menu, kernel and initrd over TFTP on IPv6"
}
