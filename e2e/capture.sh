#!/usr/bin/env bash
# e2e/capture.sh: re-capture the golden DHCP packets of real firmware (see proxy/testdata/CAPTURES.md).
#
# Run as root, inside a throw-away network namespace:
#     unshare --net bash -c 'ip link set lo up; e2e/capture.sh OUTDIR'
# It builds the same topology as run.sh, but the PXE side is dnsmasq in proxy mode (--dhcp-range=...,proxy with
# --pxe-service), which makes EDK2 go to port 4011 and hands ipxe.efi to OVMF. tcpdump records UDP 67/68/4011 on
# the client bridge; the pcap files and a hex dump of every DHCP payload land in OUTDIR.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
out=${1:?usage: capture.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
e2e_init

e2e_ns sw
e2e_ns corp
e2e_ns pxe
e2e_bridge sw br0
e2e_link sw br0 corp eth0 10.77.0.2/24
e2e_link sw br0 pxe eth0 10.77.0.3/24
root=$E2E_TMP/tftp
e2e_tftp_root "$root"
# dnsmasq appends ".0" to BIOS pxe-service names.
cp "$root/undionly.kpxe" "$root/undionly.0"

e2e_bg corp "$out/corp.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --log-dhcp \
	--interface=eth0 --bind-interfaces --dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h \
	--dhcp-leasefile="$out/corp.leases" --pid-file=
# tag:#ipxe is dnsmasq's "not ipxe" in pxe-service (the iPXE wiki's proxy-mode recipe).
e2e_bg pxe "$out/pxe.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --log-dhcp \
	--interface=eth0 --bind-interfaces --dhcp-range=10.77.0.0,proxy --pid-file= \
	--enable-tftp --tftp-root="$root" --dhcp-userclass=set:ipxe,iPXE \
	--pxe-service=tag:#ipxe,x86PC,"e2e bios",undionly \
	--pxe-service=tag:#ipxe,X86-64_EFI,"e2e uefi",ipxe.efi \
	--pxe-service=tag:ipxe,x86PC,"e2e ipxe",boot.ipxe \
	--pxe-service=tag:ipxe,X86-64_EFI,"e2e ipxe",boot.ipxe
e2e_bg sw "$out/tcpdump.log" tcpdump -i br0 -U -n -w "$out/dhcp.pcap" 'udp port 67 or udp port 68 or udp port 4011'
sleep 1

# CAPTURE_KINDS: any of bios uefi arm64 (arm64 needs qemu-system-arm and qemu-efi-aarch64).
kinds=${CAPTURE_KINDS:-bios uefi}
n=0
for kind in $kinds; do
	n=$((n + 1))
	mac=$(e2e_mac $((0x40 + n)))
	e2e_done_file "$root" "$mac"
	e2e_tap sw br0 "tap$n"
	e2e_vm sw "$kind" "tap$n" "$mac" "$out/$kind.serial"
	vm=$E2E_PID
	if e2e_wait_for "$out/pxe.log" "done-$(e2e_hexhyp "$mac")" "${CAPTURE_TIMEOUT:-180}" "$vm"; then
		e2e_log "$kind: reached the final fetch"
	else
		e2e_log "$kind: no final fetch (see $out/$kind.serial, $out/pxe.log)"
	fi
	e2e_kill "$vm"
done
sleep 1
cp "$root/boot.ipxe" "$out/"
e2e_log "pcap in $out/dhcp.pcap"
