package main

// serve6.go opens the IPv6 side (docs/pxe-notes.md §9): the DHCPv6
// ProxyDHCP on 547 and 4011 and the TFTP listener on [::], sharing every
// boot setting with IPv4.

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"

	"github.com/pxeproxy/pxeproxy/internal/envcfg"
	"github.com/pxeproxy/pxeproxy/metrics"
	"github.com/pxeproxy/pxeproxy/proxy6"
)

// ipv6Iface is what the start decision knows about one served interface.
type ipv6Iface struct {
	name  string
	index int
	mac   net.HardwareAddr
	addrs []net.IP // global and ULA addresses
}

// servedIPv6 lists the interfaces pxeproxy would serve (PXE_INTERFACES, else
// every up, non-loopback one) with their global and ULA addresses, in index
// order.
func servedIPv6(only []string) []ipv6Iface {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []ipv6Iface
	for _, ifc := range ifs {
		if len(only) > 0 {
			if !slices.Contains(only, ifc.Name) {
				continue
			}
		} else if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		i := ipv6Iface{name: ifc.Name, index: ifc.Index, mac: ifc.HardwareAddr}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() == nil && n.IP.IsGlobalUnicast() {
				i.addrs = append(i.addrs, n.IP)
			}
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b ipv6Iface) int { return cmp.Compare(a.index, b.index) })
	return out
}

// ipv6Decide turns PXE_IPV6 into on or off at start: auto is on when a
// served interface has a global or ULA address (EDK2 leases one from the
// site's DHCPv6 server, and our boot-file URL needs one of ours on its
// prefix). An explicit on without such an address still runs, with a
// warning: the address may come later (proxy6 re-reads the interfaces).
func ipv6Decide(mode envcfg.Auto, ifs []ipv6Iface) (on bool, warn string) {
	has := slices.ContainsFunc(ifs, func(i ipv6Iface) bool { return len(i.addrs) > 0 })
	switch mode {
	case envcfg.AutoOff:
		return false, ""
	case envcfg.AutoOn:
		if !has {
			return true, "PXE_IPV6=on but no served interface has a global or ULA IPv6 address yet: IPv6 clients get no boot-file URL until one appears (or set PXE_SERVER_IP6)"
		}
		return true, ""
	}
	return has, ""
}

// serverDUID is our DHCPv6 Server ID: a DUID-LL of the first served
// interface with an Ethernet MAC, the same on every interface (RFC 8415
// 11). Nil: proxy6 takes the ingress interface's MAC.
func serverDUID(ifs []ipv6Iface) []byte {
	for _, i := range ifs {
		if len(i.mac) == 6 {
			return proxy6.DUIDLL(i.mac)
		}
	}
	return nil
}

// proxy6Config is the DHCPv6 decision's configuration: the IPv4 boot
// settings, shared.
func proxy6Config(cfg *Config, ifs []ipv6Iface, m *metrics.Metrics) proxy6.Config {
	p4 := proxyConfig(cfg)
	c := proxy6.Config{
		BootFiles:  p4.BootFiles,
		IPXEScript: cfg.IPXEScript,
		ServerIP:   cfg.ServerIP6.IP,
		ServerID:   serverDUID(ifs),
		HTTPPort:   p4.HTTPPort,
		Interfaces: cfg.Interfaces,
		OnIgnore:   m.ProxyIgnored,
	}
	if ipv6URL(cfg.HTTPURL) {
		// An IPv4 URL is useless to an IPv6 HTTP boot client: EDK2 reads the
		// host of option 59 as an IPv6 address (HttpBootDhcp6.c).
		c.HTTPURL, c.HTTPPort = cfg.HTTPURL, 0
	}
	for _, p := range cfg.AllowMACs {
		c.Allow = append(c.Allow, net.HardwareAddr(p))
	}
	for _, p := range cfg.DenyMACs {
		c.Deny = append(c.Deny, net.HardwareAddr(p))
	}
	for _, f := range cfg.MACBootFiles {
		c.MACBootFiles = append(c.MACBootFiles, proxy6.MACBootFile{Prefix: net.HardwareAddr(f.Prefix), File: f.File})
	}
	// The metrics keep arch labels to the configured architectures.
	c.OnAnswer = func(a *proxy6.Answer, in proxy6.Ingress) { m.ProxyReply(in.Port, int(a.Arch), string(a.Class)) }
	return c
}

// ipv6URL reports whether a PXE_HTTP_URL names an IPv6 host.
func ipv6URL(v string) bool {
	u, err := url.Parse(v)
	if err != nil || v == "" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.To4() == nil
}

// openIPv6 opens the DHCPv6 ProxyDHCP sockets and, when the TFTP server runs
// on a wildcard address, TFTP on [::]. What it opened is returned to close
// at exit. With PXE_IPV6=auto a socket that cannot be opened (IPv6 switched
// off in the kernel, port 547 held by a DHCPv6 server on this host) turns
// IPv6 off with a warning; with on it stops the start.
func openIPv6(ctx context.Context, cfg *Config, ifs []ipv6Iface, m *metrics.Metrics, log *slog.Logger,
	tftpServe func(context.Context, net.PacketConn) error, jw *journeys) ([]service, []io.Closer, error) {
	var services []service
	var closers []io.Closer
	fail := func(err error) ([]service, []io.Closer, error) {
		for _, c := range closers {
			c.Close()
		}
		if cfg.IPv6 == envcfg.AutoOn {
			return nil, nil, fmt.Errorf("PXE_IPV6=on: %w", err)
		}
		log.Warn("IPv6 boot off: "+err.Error()+" (set PXE_IPV6=off to silence this, or PXE_IPV6=on to make it fatal)", "svc", "proxy6")
		return nil, nil, nil
	}
	pcfg := proxy6Config(cfg, ifs, m)
	jw.hook6(&pcfg)
	srv := proxy6.New(pcfg, log)
	for _, port := range []int{proxy6.PortDHCP, proxy6.PortPXE} {
		conn, granted, err := proxy6.Listen(ctx, "[::]:"+strconv.Itoa(port), cfg.RecvBuffer)
		if err != nil {
			return fail(fmt.Errorf("port %d over IPv6: %w (a DHCPv6 server on this host?)", port, err))
		}
		closers = append(closers, conn)
		if granted < cfg.RecvBuffer {
			log.Warn("receive buffer smaller than asked: a burst of PXE clients may be dropped; raise net.core.rmem_max or grant CAP_NET_ADMIN",
				"svc", "proxy6", "port", port, "asked", cfg.RecvBuffer, "granted", granted)
		}
		services = append(services, service{"proxy6:" + strconv.Itoa(port), func(ctx context.Context) error { return srv.Serve(ctx, conn) }})
	}
	if tftpServe != nil {
		// The same server, tree and limits as IPv4; a udp6 socket is IPv6
		// only (Go sets IPV6_V6ONLY), so it does not clash with udp4 :69.
		_, port, _ := net.SplitHostPort(cfg.TFTPAddr)
		addr := net.JoinHostPort("::", port)
		conn, err := net.ListenPacket("udp6", addr)
		if err != nil {
			return fail(fmt.Errorf("TFTP on %s: %w", addr, err))
		}
		closers = append(closers, conn)
		services = append(services, service{"tftp6", func(ctx context.Context) error { return tftpServe(ctx, conn) }})
	}
	server := "ingress address"
	if cfg.ServerIP6.IP != nil {
		server = cfg.ServerIP6.String()
	}
	log.Info("listening", "svc", "proxy6", "ports", []int{proxy6.PortDHCP, proxy6.PortPXE}, "interfaces", srv.Interfaces(),
		"server_ip6", server, "server_id", fmt.Sprintf("%x", pcfg.ServerID), "tftp6", tftpServe != nil)
	return services, closers, nil
}
