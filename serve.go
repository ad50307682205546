package main

// serve.go opens every service's sockets and runs the services: the one
// place where the configuration meets the packages.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/pxeproxy/pxeproxy/bootfs"
	"github.com/pxeproxy/pxeproxy/conflict"
	"github.com/pxeproxy/pxeproxy/dhcpsock"
	"github.com/pxeproxy/pxeproxy/httpd"
	"github.com/pxeproxy/pxeproxy/internal/envcfg"
	"github.com/pxeproxy/pxeproxy/metrics"
	"github.com/pxeproxy/pxeproxy/proxy"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

// service is one loop that runs until the context ends.
type service struct {
	name string
	run  func(context.Context) error
}

// serve opens every socket first, so that a taken port or a missing folder
// stops the start with one clear line, then runs the services until ctx ends.
func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	pcfg := proxyConfig(cfg)
	// Only configured architectures become labels: option 93 is the client's.
	m := metrics.New(metrics.Config{Archs: slices.Collect(maps.Keys(pcfg.BootFiles))})
	health := &httpd.Health{}
	jw := newJourneys(cfg, log) // nil without PXE_HTTP_ADDR
	scfg := proxy.ServerConfig{
		Config:     *pcfg,
		Interfaces: cfg.Interfaces,
		ReplyDelay: time.Duration(cfg.ReplyDelay),
		OnAnswer:   func(a *proxy.Answer, in proxy.Ingress) { m.ProxyReply(in.Port, int(a.Arch), string(a.Class)) },
		OnIgnore:   m.ProxyIgnored,
	}
	if jw != nil {
		scfg.OnRequest = jw.request
	}
	psrv := proxy.New(scfg, log)

	var services []service
	if jw != nil {
		// Joins transfer peers to their MAC once the kernel has learnt it.
		services = append(services, service{"journal", jw.neigh.run})
	}
	// 4011 first: only a PXE boot service (another pxeproxy) holds it, and
	// its error names that, before 67 would fall back to raw for nothing.
	t4011, err := dhcpsock.ListenUDP(ctx, proxy.PortPXE, cfg.RecvBuffer, log)
	if err != nil {
		return err
	}
	defer t4011.Close()
	// Port 67 falls back to a raw AF_PACKET listener when the host's own
	// DHCP server holds it (docs/pxe-notes.md §8).
	t67, mode67, err := dhcpsock.Listen67(ctx, cfg.RecvBuffer, log)
	if err != nil {
		return err
	}
	defer t67.Close()
	services = append(services,
		service{"proxy:67", func(ctx context.Context) error { return psrv.Serve(ctx, t67, proxy.PortDHCP) }},
		service{"proxy:4011", func(ctx context.Context) error { return psrv.Serve(ctx, t4011, proxy.PortPXE) }})

	if cfg.ConflictWatch {
		// dropLocal when port 67 was free: no DHCP server runs on this host.
		if r := dhcpsock.ListenReplies(ctx, mode67 == dhcpsock.ModeUDP, log); r != nil {
			ccfg := conflict.Config{Ours: conflict.OwnAddrs(cfg.ServerIP.IP), OnFinding: func(f conflict.Finding) {
				m.Conflict(f.Server.String(), string(f.Kind))
				if jw != nil {
					jw.conflict(f)
				}
			}}
			if jw != nil {
				ccfg.OnLease = jw.lease
			}
			d := conflict.New(ccfg, log)
			services = append(services, service{"conflict", func(ctx context.Context) error { return d.Serve(ctx, r) }})
		}
	}

	// IPv6 is decided once, from the served interfaces' addresses now.
	ifs6 := servedIPv6(cfg.Interfaces)
	on6, warn6 := ipv6Decide(cfg.IPv6, ifs6)
	if warn6 != "" {
		log.Warn(warn6, "svc", "proxy6")
	}
	var tftpServe6 func(context.Context, net.PacketConn) error // TFTP on [::] too, when set

	var root *bootfs.Root // nil with PXE_TFTP=off: HTTP then serves only /healthz and /metrics
	if cfg.TFTP {
		var dirs []string
		menu := newMenuMaker(cfg, log)
		root, dirs, err = openTFTPRoot(cfg, log, menu.files())
		if err != nil {
			return err
		}
		defer root.Close()
		menu.setFS(root.FS())
		menu.logStart()
		// /healthz says so when every boot folder is gone (bootfs follows
		// them by path; TFTP and HTTP then answer "not found").
		health.Check("boot folder", root.Err)
		tcfg := tftpd.Config{
			Root:          root,
			WindowSizeMax: cfg.TFTPWindowSizeMax,
			MaxTransfers:  cfg.TFTPMaxTransfers,
			ShutdownGrace: time.Duration(cfg.ShutdownGrace),
			OnDone:        func(st tftpd.Stats) { m.TFTPDone(tftpMetrics(st)) },
		}
		if jw != nil {
			jw.root = root
			tcfg.OnStart = jw.startTFTP
		}
		tsrv, err := tftpd.New(tcfg, log)
		if err != nil {
			return err
		}
		// A host literal picks the family; no host means IPv4 here and
		// [::] in openIPv6 when IPv6 is on.
		host, _, _ := net.SplitHostPort(cfg.TFTPAddr)
		network := "udp4"
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			network = "udp6"
		} else if host == "" && on6 {
			tftpServe6 = tsrv.Serve
		}
		conn, err := net.ListenPacket(network, cfg.TFTPAddr)
		if err != nil {
			return fmt.Errorf("PXE_TFTP_ADDR=%q: %w (another TFTP server running? set PXE_TFTP=off to use it instead)", cfg.TFTPAddr, err)
		}
		defer conn.Close()
		services = append(services, service{"tftp", func(ctx context.Context) error { return tsrv.Serve(ctx, conn) }})
		log.Info("tftp listening", "svc", "tftp", "addr", cfg.TFTPAddr, "roots", dirs,
			"windowsize_max", cfg.TFTPWindowSizeMax, "max_transfers", cfg.TFTPMaxTransfers)
	}

	if on6 {
		svcs, closers, err := openIPv6(ctx, cfg, ifs6, m, log, tftpServe6, jw)
		if err != nil {
			return err
		}
		for _, c := range closers {
			defer c.Close()
		}
		services = append(services, svcs...)
	}

	if cfg.HTTPAddr != "" {
		// jw is set whenever PXE_HTTP_ADDR is. The journal's page and API are
		// read-only; the README asks to keep this listener on the management side.
		m.WatchJourneys(states(), jw.stats)
		hsrv, err := httpd.New(httpd.Config{Addr: cfg.HTTPAddr, URL: cfg.HTTPURL, Root: root, Metrics: m.Handler(),
			OnFile: m.HTTPServed, OnRefused: m.HTTPRefused, Health: health, ShutdownGrace: time.Duration(cfg.ShutdownGrace),
			Pages: jw.j.Handler(), OnShutdown: jw.j.CloseStreams, OnStart: jw.startHTTP}, log)
		if err != nil {
			return fmt.Errorf("PXE_HTTP_ADDR=%q: %w", cfg.HTTPAddr, err)
		}
		ln, err := hsrv.Listen(ctx)
		if err != nil {
			return fmt.Errorf("PXE_HTTP_ADDR=%q: %w", cfg.HTTPAddr, err)
		}
		defer ln.Close()
		services = append(services, service{"http", func(ctx context.Context) error { return hsrv.Serve(ctx, ln) }})
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
	err = runAll(ctx, services, health)
	log.Info("stopped", "svc", "main")
	return err
}

// tftpMetrics is what the metrics count of a finished transfer.
func tftpMetrics(st tftpd.Stats) metrics.TFTPTransfer {
	t := metrics.TFTPTransfer{Bytes: st.Bytes, Retransmits: st.Retransmits, Probe: st.Probe,
		Dur: st.Dur, BlockSize: st.BlockSize, WindowSize: st.WindowSize}
	switch {
	case st.Err == nil:
	case errors.Is(st.Err, bootfs.ErrNotFound):
		t.Failure = metrics.FailNotFound
	case errors.Is(st.Err, bootfs.ErrAccess):
		t.Failure = metrics.FailAccess
	case errors.Is(st.Err, tftpd.ErrBusy):
		t.Failure = metrics.FailBusy
	default:
		t.Failure = metrics.FailOther
	}
	return t
}

// runAll runs every service until ctx ends; the first failure stops the
// rest. A service counts as serving (/healthz) from its start until its loop
// returns: its socket is already open.
func runAll(ctx context.Context, services []service, health *httpd.Health) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, len(services))
	for _, s := range services {
		health.Set(s.name, true)
		go func() {
			err := s.run(ctx)
			health.Set(s.name, false)
			if err != nil {
				err = fmt.Errorf("%s: %w", s.name, err)
				cancel(err)
			}
			done <- err
		}()
	}
	var first error
	for range services {
		if err := <-done; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// proxyConfig is the decision's configuration taken from the environment.
func proxyConfig(cfg *Config) *proxy.Config {
	pcfg := &proxy.Config{
		BootFiles:  cfg.bootFiles(),
		IPXEScript: cfg.IPXEScript,
		ServerIP:   cfg.ServerIP.IP,
		BootServer: cfg.BootServer.IP,
		HTTPURL:    cfg.HTTPURL,

		Allow:           macPrefixes(cfg.AllowMACs),
		Deny:            macPrefixes(cfg.DenyMACs),
		MACBootFiles:    macBootFiles(cfg.MACBootFiles),
		AnswerRequest67: bool(cfg.AnswerRequest67),
	}
	if cfg.HTTPAddr != "" && cfg.HTTPURL == "" {
		_, port, _ := net.SplitHostPort(cfg.HTTPAddr)
		pcfg.HTTPPort, _ = strconv.Atoi(port)
	}
	return pcfg
}

func macPrefixes(l envcfg.MACList) []proxy.MACPrefix {
	out := make([]proxy.MACPrefix, len(l))
	for i, p := range l {
		out[i] = proxy.MACPrefix(p)
	}
	return out
}

func macBootFiles(l envcfg.MACFiles) []proxy.MACBootFile {
	out := make([]proxy.MACBootFile, len(l))
	for i, f := range l {
		out[i] = proxy.MACBootFile{Prefix: proxy.MACPrefix(f.Prefix), File: f.File}
	}
	return out
}

// openTFTPRoot opens PXE_TFTP_ROOT and then PXE_TFTP_DEFAULTS, with the
// generated files ranked between them. A missing admin root is fine when
// built-in defaults exist (the container with no volume mounted); with
// neither, the start stops.
func openTFTPRoot(cfg *Config, log *slog.Logger, gen map[string]bootfs.Generator) (*bootfs.Root, []string, error) {
	var dirs []string
	for _, d := range []struct{ name, dir string }{{"PXE_TFTP_ROOT", cfg.TFTPRoot}, {"PXE_TFTP_DEFAULTS", cfg.TFTPDefaults}} {
		if d.dir == "" {
			continue
		}
		st, err := os.Stat(d.dir)
		switch {
		case errors.Is(err, fs.ErrNotExist) && d.name == "PXE_TFTP_ROOT" && cfg.TFTPDefaults != "":
			// Kept: bootfs serves it as soon as it is created.
			log.Warn("tftp root does not exist: serving only the built-in defaults until it is created", "svc", "tftp", "dir", d.dir)
		case err != nil:
			return nil, nil, fmt.Errorf("%s=%q: %w (expected a readable folder)", d.name, d.dir, err)
		case !st.IsDir():
			return nil, nil, fmt.Errorf("%s=%q: not a folder", d.name, d.dir)
		}
		dirs = append(dirs, d.dir)
	}
	if len(dirs) == 0 {
		return nil, nil, fmt.Errorf("PXE_TFTP_ROOT=%q: no folder to serve (set PXE_TFTP_ROOT, or PXE_TFTP=off)", cfg.TFTPRoot)
	}
	defaults := 0
	if cfg.TFTPDefaults != "" {
		defaults = 1
	}
	root, err := bootfs.New(bootfs.Config{Dirs: dirs, Defaults: defaults, Generated: gen})
	if err != nil {
		return nil, nil, fmt.Errorf("PXE_TFTP_ROOT: %w", err)
	}
	return root, dirs, nil
}
