# shellcheck shell=bash
# e2e/scenario-relay6.sh, sourced by e2e/run.sh: UEFI PXEv6 through a DHCPv6 relay agent (issue #18).
#
# The IPv4 relay scenario's namespace "relay" routes between br0 and br1; here it also gets fd77::4 on br0 and
# fd77:1::1 on br1, sends router advertisements on br1 (radvd: M and O flags, prefix on-link, no SLAAC, so
# the client's default route is the relay) and relays DHCPv6 (and DHCPv4, for iPXE afterwards) to both the
# corporate server (fd77::2, 10.77.0.2) and pxeproxy (fd77::3, 10.77.0.3):
#   relay6      dnsmasq 2.90 --dhcp-relay (both families in one process)
#   relay6-isc  ISC dhcrelay 4.4: dhcrelay -6 -I (Interface-ID on every RELAY-FORW) and dhcrelay -4
# The client is OVMF with IPv4 PXE off (uefi6) on br1. The corporate dnsmasq leases fd77:1::100-1ff to relayed
# clients (it picks the range by the RELAY-FORW's link-address) and 10.77.1.100-199 (IPv4, for iPXE).
# Proof: the IPv6 proof of scenario ipv6 (ADVERTISE, 4011 REPLY, snponly.efi over TFTP to the relayed lease,
# iPXE's script, done-<mac>), every pxeproxy reply on its link a RELAY-REPL around an ADVERTISE or REPLY
# (check_wire6) that answers a RELAY-FORW with its addresses and Interface-ID echoed (pcap6.py --relay), and
# the journal's verdict booted.
ALL_EXTRA="$ALL_EXTRA relay6 relay6-isc"

# relay6_site DIR: addresses and routes for fd77:1::/64 (idempotent: both scenarios call it), radvd on the
# relay's br1 side, and the corporate dnsmasq with ranges for both relayed subnets.
relay6_site() {
	if ! command -v radvd >/dev/null; then
		why="needs radvd"
		return 1
	fi
	v6=1
	e2e_in relay sysctl -qw net.ipv6.conf.all.forwarding=1
	e2e_in relay ip addr replace fd77::4/64 dev eth0 nodad
	e2e_in relay ip addr replace fd77:1::1/64 dev eth1 nodad
	e2e_in corp ip -6 route replace fd77:1::/64 via fd77::4
	e2e_in pxe ip -6 route replace fd77:1::/64 via fd77::4
	cat >"$1/radvd.conf" <<-EOF2
		interface eth1 {
		  AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 10;
		  AdvManagedFlag on; AdvOtherConfigFlag on;
		  prefix fd77:1::/64 { AdvOnLink on; AdvAutonomous off; };
		};
	EOF2
	e2e_bg relay "$1/radvd.log" radvd -n -m stderr -C "$1/radvd.conf" -p "$1/radvd.pid"
	svc_pids+=("$E2E_PID")
	# No --enable-ra: the site's routers (radvd above) advertise; dnsmasq only leases.
	e2e_bg corp "$1/corp.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --log-dhcp \
		--interface=eth0 --bind-interfaces --pid-file= --dhcp-leasefile="$1/corp.leases" \
		--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h \
		--dhcp-range=set:far,10.77.1.100,10.77.1.199,255.255.255.0,1h \
		--dhcp-option=tag:far,option:router,10.77.1.1 \
		--dhcp-range=fd77::100,fd77::1ff,64,1h --dhcp-range=fd77:1::100,fd77:1::1ff,64,1h
	svc_pids+=("$E2E_PID")
}

# relay6_boot DIR NOTE: the client on br1 boots; the proof and checks above. Sets $note.
relay6_boot() {
	local out
	start_pxeproxy "$1" || return 1
	add_client uefi6 br1 "$1"
	wait_clients "$1" || return 1
	chain_uefi6 "$1" "${c_mac[0]}" || return 1
	require_log "$1" "\"msg\":\"pxe reply\",\"svc\":\"dhcp6\",\"mac\":\"${c_mac[0]}\".*\"type\":\"ADVERTISE\".*\"relays\":1," \
		"relayed ADVERTISE to ${c_mac[0]}" || return 1
	if ! out=$(python3 "$here/pcap6.py" "$1/dhcp.pcap" --relay "$pxe_mac"); then
		why=$out
		return 1
	fi
	require_verdicts "$1" booted || return 1
	note="$2; $note; $out"
}

scenario_relay6() {
	relay6_site "$1" || return 1
	# One local address per family; a --dhcp-relay per server sends each request to both.
	e2e_bg relay "$1/relay.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --log-dhcp --pid-file= \
		--dhcp-relay=fd77:1::1,fd77::2 --dhcp-relay=fd77:1::1,fd77::3 \
		--dhcp-relay=10.77.1.1,10.77.0.2 --dhcp-relay=10.77.1.1,10.77.0.3
	svc_pids+=("$E2E_PID")
	relay6_boot "$1" "via dnsmasq --dhcp-relay"
}

scenario_relay6_isc() {
	relay6_site "$1" || return 1
	# -I: an Interface-ID option on every RELAY-FORW (dhcrelay adds one by itself only with several -l).
	e2e_bg relay "$1/relay.log" dhcrelay -6 -d -I -pf "$1/dhcrelay6.pid" -l eth1 -u fd77::2%eth0 -u fd77::3%eth0
	svc_pids+=("$E2E_PID")
	e2e_bg relay "$1/relay4.log" dhcrelay -4 -d -pf "$1/dhcrelay4.pid" -id eth1 -iu eth0 10.77.0.2 10.77.0.3
	svc_pids+=("$E2E_PID")
	relay6_boot "$1" "via dhcrelay -6 -I" || return 1
	grep -q 'Interface-ID .* echoed' <<<"$note" || {
		why="dhcrelay -6 -I sent no Interface-ID: $note"
		return 1
	}
}
