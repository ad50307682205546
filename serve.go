package main

// serve.go opens every service's sockets and runs the services: the one
// place where the configuration meets the packages.

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/catalog/bootmenu"
	"github.com/pxeproxy/pxeproxy/conflict"
	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/httpd"
	"github.com/pxeproxy/pxeproxy/internal/pxeboot"
	"github.com/pxeproxy/pxeproxy/internal/service"
	"github.com/pxeproxy/pxeproxy/journal/feed"
	"github.com/pxeproxy/pxeproxy/metrics"
	"github.com/pxeproxy/pxeproxy/proxy"
	"github.com/pxeproxy/pxeproxy/proxy6"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

// serve opens every socket first, so that a taken port or a missing folder
// stops the start with one clear line, then runs the services until ctx ends.
// logDropped (nil: none) counts the log lines the log writer dropped.
func serve(ctx context.Context, cfg *Config, log *slog.Logger, logDropped func() uint64) error {
	pcfg := proxyConfig(cfg)
	// Only configured architectures become labels: option 93 is the client's.
	m := metrics.New(metrics.Config{Archs: slices.Collect(maps.Keys(pcfg.BootFiles))})
	m.WatchLog(logDropped)
	health := &httpd.Health{}
	var g service.Group
	defer g.Close()

	// 4011 first: only a PXE boot service (another pxeproxy) holds it, and
	// its error names that, before 67 would fall back to raw for nothing.
	t4011, err := dhcpsock.ListenUDP(ctx, proxy.PortPXE, cfg.RecvBuffer, log)
	if err != nil {
		return err
	}
	g.Own(t4011)
	// Port 67 falls back to a raw AF_PACKET listener when the host's own
	// DHCP server holds it (docs/pxe-notes.md §8).
	t67, mode67, err := dhcpsock.Listen67(ctx, cfg.RecvBuffer, log)
	if err != nil {
		return err
	}
	g.Own(t67)

	var root *bootfs.Root // nil with PXE_TFTP=off: HTTP then serves only /healthz and /metrics
	var dirs []string
	if cfg.TFTP {
		menu := bootmenu.New(bootmenu.Config{Timeout: time.Duration(cfg.MenuTimeout), Default: cfg.MenuDefault,
			WDSServer: cfg.WDSServer.IP, HTTPAddr: cfg.HTTPAddr, BootServer: cfg.BootServer.IP, ServerIP: cfg.ServerIP.IP}, log)
		if cfg.TFTPRoot == "" && cfg.TFTPDefaults == "" {
			return fmt.Errorf("PXE_TFTP_ROOT=%q: no folder to serve (set PXE_TFTP_ROOT, or PXE_TFTP=off)", cfg.TFTPRoot)
		}
		root, dirs, err = bootfs.Open(bootfs.Folder{Setting: "PXE_TFTP_ROOT", Path: cfg.TFTPRoot},
			bootfs.Folder{Setting: "PXE_TFTP_DEFAULTS", Path: cfg.TFTPDefaults}, menu.Files(), log)
		if err != nil {
			return err
		}
		g.Own(root)
		menu.LogStart(root.FS())
		// /healthz says so when every boot folder is gone (bootfs follows
		// them by path; TFTP and HTTP then answer "not found").
		health.Check("boot folder", root.Err)
	}
	var jw *feed.Feed // the boot journal, shown on the HTTP listener only
	if cfg.HTTPAddr != "" {
		var files fs.FS
		if root != nil {
			files = root.FS()
		}
		jw = feed.New(feed.Config{Clients: cfg.JournalClients, Interfaces: cfg.Interfaces, Files: files}, log)
		g.Add("journal", jw.Run)
	}

	scfg := proxy.ServerConfig{
		Config:     *pcfg,
		Interfaces: cfg.Interfaces,
		ReplyDelay: time.Duration(cfg.ReplyDelay),
		OnAnswer:   func(a *proxy.Answer, in proxy.Ingress) { m.ProxyReply(in.Port, int(a.Arch), string(a.Class)) },
		OnIgnore:   m.ProxyIgnored,
	}
	if jw != nil {
		scfg.OnRequest = jw.Request
	}
	psrv := proxy.New(scfg, log)
	g.Add("proxy:67", func(ctx context.Context) error { return psrv.Serve(ctx, t67, proxy.PortDHCP) })
	g.Add("proxy:4011", func(ctx context.Context) error { return psrv.Serve(ctx, t4011, proxy.PortPXE) })

	if cfg.ConflictWatch {
		// dropLocal when port 67 was free: no DHCP server runs on this host.
		if r := dhcpsock.ListenReplies(ctx, mode67 == dhcpsock.ModeUDP, log); r != nil {
			ccfg := conflict.Config{Ours: conflict.OwnAddrs(cfg.ServerIP.IP), OnFinding: func(f conflict.Finding) {
				m.Conflict(f.Server.String(), string(f.Kind))
				if jw != nil {
					jw.Conflict(f)
				}
			}}
			if jw != nil {
				ccfg.OnLease = jw.Lease
			}
			d := conflict.New(ccfg, log)
			g.Add("conflict", func(ctx context.Context) error { return d.Serve(ctx, r) })
		}
	}

	start6 := proxy6.Start{Config: proxy6Config(cfg, pcfg, m), Mode: proxy6.Mode(cfg.IPv6), RecvBuffer: cfg.RecvBuffer}
	jw.Hook6(&start6.Config)
	if cfg.TFTP {
		tcfg := tftpd.Config{
			Root:          root,
			WindowSizeMax: cfg.TFTPWindowSizeMax,
			MaxTransfers:  cfg.TFTPMaxTransfers,
			ShutdownGrace: time.Duration(cfg.ShutdownGrace),
			OnDone: func(st tftpd.Stats) {
				m.TFTPDone(metrics.TFTPTransfer{Bytes: st.Bytes, Retransmits: st.Retransmits, Probe: st.Probe, Dur: st.Dur,
					BlockSize: st.BlockSize, WindowSize: st.WindowSize, Failure: st.Failure()})
			},
		}
		if jw != nil {
			tcfg.OnStart = jw.StartTFTP
		}
		tsrv, err := tftpd.New(tcfg, log)
		if err != nil {
			return err
		}
		conn, port6, err := tftpd.Listen(cfg.TFTPAddr)
		if err != nil {
			return fmt.Errorf("PXE_TFTP_ADDR=%q: %w (another TFTP server running? set PXE_TFTP=off to use it instead)", cfg.TFTPAddr, err)
		}
		if port6 != "" { // no host: [::] too when IPv6 is on
			start6.TFTP, start6.TFTPPort = tsrv.Serve, port6
		}
		g.Own(conn)
		g.Add("tftp", func(ctx context.Context) error { return tsrv.Serve(ctx, conn) })
		log.Info("tftp listening", "svc", "tftp", "addr", cfg.TFTPAddr, "roots", dirs,
			"windowsize_max", cfg.TFTPWindowSizeMax, "max_transfers", cfg.TFTPMaxTransfers)
	}

	if err := proxy6.Open(ctx, &g, start6, log); err != nil {
		return err
	}

	if jw != nil {
		// The journal's page and API are read-only; the README asks to keep
		// this listener on the management side.
		m.WatchJourneys(feed.States(), jw.Stats)
		hsrv, err := httpd.New(httpd.Config{Addr: cfg.HTTPAddr, URL: cfg.HTTPURL, Root: root, Metrics: m.Handler(),
			OnFile: m.HTTPServed, OnRefused: m.HTTPRefused, Health: health, ShutdownGrace: time.Duration(cfg.ShutdownGrace),
			Pages: jw.Journal().Handler(), OnShutdown: jw.Journal().CloseStreams, OnStart: jw.StartHTTP}, log)
		if err != nil {
			return fmt.Errorf("PXE_HTTP_ADDR=%q: %w", cfg.HTTPAddr, err)
		}
		ln, err := hsrv.Listen(ctx)
		if err != nil {
			return fmt.Errorf("PXE_HTTP_ADDR=%q: %w", cfg.HTTPAddr, err)
		}
		g.Own(ln)
		g.Add("http", func(ctx context.Context) error { return hsrv.Serve(ctx, ln) })
	}

	bootServer := "ingress address"
	if cfg.BootServer.IP != nil {
		bootServer = cfg.BootServer.String()
	}
	log.Info("listening", "svc", "proxy", "ports", []int{proxy.PortDHCP, proxy.PortPXE}, "mode", mode67,
		"interfaces", psrv.Interfaces(), "only", []string(cfg.Interfaces), "boot_server", bootServer,
		"tftp", bool(cfg.TFTP), "bootfiles", pcfg.BootFiles, "ipxe_script", cfg.IPXEScript,
		"allow", len(pcfg.Allow), "deny", len(pcfg.Deny), "mac_bootfiles", len(pcfg.MACBootFiles))
	if len(psrv.Interfaces()) == 0 {
		log.Warn("no interface to answer on yet: none is up with an IPv4 address (or none of PXE_INTERFACES); pxeproxy picks them up when they appear", "svc", "proxy")
	}

	for _, w := range cfg.warnings() {
		log.Warn(w, "svc", "main")
	}
	err = g.Run(ctx, health.Set)
	log.Info("stopped", "svc", "main")
	return err
}

// proxyConfig is the decision's configuration taken from the environment.
func proxyConfig(cfg *Config) *proxy.Config {
	pcfg := &proxy.Config{Settings: pxeboot.Settings{BootFiles: cfg.bootFiles(), IPXEScript: cfg.IPXEScript,
		HTTPURL: cfg.HTTPURL, Allow: cfg.AllowMACs, Deny: cfg.DenyMACs, MACBootFiles: cfg.MACBootFiles},
		ServerIP: cfg.ServerIP.IP, BootServer: cfg.BootServer.IP, AnswerRequest67: bool(cfg.AnswerRequest67)}
	if cfg.HTTPURL == "" {
		pcfg.HTTPURL, pcfg.HTTPPort = httpBoot(cfg.HTTPAddr, false)
	}
	return pcfg
}

// proxy6Config is the DHCPv6 decision's configuration: the IPv4 boot
// settings, shared.
func proxy6Config(cfg *Config, p4 *proxy.Config, m *metrics.Metrics) proxy6.Config {
	c := proxy6.Config{Settings: p4.Settings, ServerIP: cfg.ServerIP6.IP, Interfaces: cfg.Interfaces, OnIgnore: m.ProxyIgnored,
		OnAnswer: func(a *proxy6.Answer, in proxy6.Ingress) { m.ProxyReply(in.Port, int(a.Arch), string(a.Class)) }}
	if cfg.HTTPURL == "" {
		c.HTTPURL, c.HTTPPort = httpBoot(cfg.HTTPAddr, true)
	}
	return c
}

// httpBoot is how UEFI HTTP boot clients of one IP family reach the HTTP
// listener on addr (PXE_HTTP_ADDR). Bound to all addresses (Go listens on
// [::] for "0.0.0.0" too): at the port of the address the client asked
// (port). Bound to one address of the family: at that address (base), the
// same host the boot menu uses. Bound to loopback or to the other family:
// not at all, since a URL would meet a closed port; no answer (reason
// http-not-configured) tells the admin more.
func httpBoot(addr string, v6 bool) (base string, port int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || ip.IsUnspecified():
		port, _ = strconv.Atoi(p)
		return "", port
	case ip == nil || ip.IsLoopback() || (ip.To4() == nil) != v6:
		return "", 0
	}
	return "http://" + net.JoinHostPort(ip.String(), p), 0
}
