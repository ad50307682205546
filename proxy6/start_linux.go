package proxy6

// start_linux.go opens the IPv6 side (docs/pxe-notes.md §9): the DHCPv6
// ProxyDHCP on 547 and 4011 and, when asked, TFTP on [::], all or nothing.

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"

	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/internal/service"
)

// Mode says whether to boot clients over IPv6 (PXE_IPV6).
type Mode string

// Mode values. Auto is on when a served interface has a global or ULA
// address at start.
const (
	ModeOn   Mode = "on"
	ModeOff  Mode = "off"
	ModeAuto Mode = "auto"
)

// Start is what Open opens.
type Start struct {
	// Config is the decision's. A nil ServerID becomes a DUID-LL of the
	// first served interface with an Ethernet MAC; an HTTPURL whose host
	// is not an IPv6 address is dropped.
	Config Config
	Mode   Mode
	// RecvBuffer is the receive buffer of 547 and 4011 (Listen).
	RecvBuffer int
	// TFTP, when set, serves TFTP on [::]:TFTPPort too: the same server
	// as IPv4, started only when IPv6 is on.
	TFTP     func(context.Context, net.PacketConn) error
	TFTPPort string
}

// Open decides IPv6 once, from the served interfaces' addresses now, and
// when it is on opens its sockets and adds their loops to g. With ModeAuto
// a socket that cannot be opened (IPv6 switched off in the kernel, port
// 547 held by a DHCPv6 server on this host) turns IPv6 off with a warning;
// with ModeOn it is the error returned.
func Open(ctx context.Context, g *service.Group, s Start, log *slog.Logger) error {
	ifs := served(s.Config.Interfaces)
	on, warn := decide(s.Mode, ifs)
	if warn != "" {
		log.Warn(warn, "svc", "proxy6")
	}
	if !on {
		return nil
	}
	var opened service.Group
	fail := func(err error) error {
		opened.Close()
		if s.Mode == ModeOn {
			return fmt.Errorf("PXE_IPV6=on: %w", err)
		}
		log.Warn("IPv6 boot off: "+err.Error()+" (set PXE_IPV6=off to silence this, or PXE_IPV6=on to make it fatal)", "svc", "proxy6")
		return nil
	}
	cfg := s.Config
	if cfg.ServerID == nil {
		cfg.ServerID = serverDUID(ifs)
	}
	if !ipv6URL(cfg.HTTPURL) {
		// An IPv4 URL is useless to an IPv6 HTTP boot client: EDK2 reads the
		// host of option 59 as an IPv6 address (HttpBootDhcp6.c).
		cfg.HTTPURL = ""
	}
	srv := New(cfg, log)
	for _, port := range []int{PortDHCP, PortPXE} {
		conn, granted, err := dhcpsock.Listen6(ctx, "[::]:"+strconv.Itoa(port), s.RecvBuffer)
		if err != nil {
			return fail(fmt.Errorf("port %d over IPv6: %w (a DHCPv6 server on this host?)", port, err))
		}
		opened.Own(conn)
		if granted < s.RecvBuffer {
			log.Warn("receive buffer smaller than asked: a burst of PXE clients may be dropped; raise net.core.rmem_max or grant CAP_NET_ADMIN",
				"svc", "proxy6", "port", port, "asked", s.RecvBuffer, "granted", granted)
		}
		opened.Add("proxy6:"+strconv.Itoa(port), func(ctx context.Context) error { return srv.Serve(ctx, conn) })
	}
	if s.TFTP != nil {
		// The same server, tree and limits as IPv4; a udp6 socket is IPv6
		// only (Go sets IPV6_V6ONLY), so it does not clash with udp4 :69.
		addr := net.JoinHostPort("::", s.TFTPPort)
		conn, err := net.ListenPacket("udp6", addr)
		if err != nil {
			return fail(fmt.Errorf("TFTP on %s: %w", addr, err))
		}
		opened.Own(conn)
		opened.Add("tftp6", func(ctx context.Context) error { return s.TFTP(ctx, conn) })
	}
	server := "ingress address"
	if cfg.ServerIP != nil {
		server = cfg.ServerIP.String()
	}
	log.Info("listening", "svc", "proxy6", "ports", []int{PortDHCP, PortPXE}, "interfaces", srv.Interfaces(),
		"server_ip6", server, "server_id", fmt.Sprintf("%x", cfg.ServerID), "tftp6", s.TFTP != nil)
	g.Merge(&opened)
	return nil
}

// servedIface is what the start decision knows about one served interface.
type servedIface struct {
	name  string
	index int
	mac   net.HardwareAddr
	addrs []net.IP // global and ULA addresses
}

// served lists the interfaces the Server would serve (only, else every up,
// non-loopback one) with their global and ULA addresses, in index order.
func served(only []string) []servedIface {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []servedIface
	for _, ifc := range ifs {
		if len(only) > 0 {
			if !slices.Contains(only, ifc.Name) {
				continue
			}
		} else if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		i := servedIface{name: ifc.Name, index: ifc.Index, mac: ifc.HardwareAddr}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() == nil && n.IP.IsGlobalUnicast() {
				i.addrs = append(i.addrs, n.IP)
			}
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b servedIface) int { return cmp.Compare(a.index, b.index) })
	return out
}

// decide turns the mode into on or off at start: auto is on when a served
// interface has a global or ULA address (EDK2 leases one from the site's
// DHCPv6 server, and our boot-file URL needs one of ours on its prefix).
// An explicit on without such an address still runs, with a warning: the
// address may come later (the Server re-reads the interfaces).
func decide(mode Mode, ifs []servedIface) (on bool, warn string) {
	has := slices.ContainsFunc(ifs, func(i servedIface) bool { return len(i.addrs) > 0 })
	switch mode {
	case ModeOff:
		return false, ""
	case ModeOn:
		if !has {
			return true, "PXE_IPV6=on but no served interface has a global or ULA IPv6 address yet: IPv6 clients get no boot-file URL until one appears (or set PXE_SERVER_IP6)"
		}
		return true, ""
	}
	return has, ""
}

// serverDUID is our DHCPv6 Server ID: a DUID-LL of the first served
// interface with an Ethernet MAC, the same on every interface (RFC 8415
// 11). Nil: the Server takes the ingress interface's MAC.
func serverDUID(ifs []servedIface) []byte {
	for _, i := range ifs {
		if len(i.mac) == 6 {
			return DUIDLL(i.mac)
		}
	}
	return nil
}

// ipv6URL reports whether an HTTP boot URL names an IPv6 host.
func ipv6URL(v string) bool {
	u, err := url.Parse(v)
	if err != nil || v == "" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.To4() == nil
}
