package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/pxeproxy/pxeproxy/catalog"
	"github.com/pxeproxy/pxeproxy/internal/envcfg"
)

// Config is every setting of pxeproxy. Only main reads the environment: the
// packages get plain structs built from this one. The tags are the public
// interface: `envconfig` is the variable's full name, `default` its default,
// `desc` the line `pxeproxy --help` and the README table print.
type Config struct {
	Interfaces envcfg.IfaceList `envconfig:"PXE_INTERFACES" desc:"comma list of interfaces to answer on; empty: every up, non-loopback interface with an IPv4 address (for IPv6: with an IPv6 address)"`
	ServerIP   envcfg.IPv4      `envconfig:"PXE_SERVER_IP" desc:"address to advertise as server (option 54) and boot server, for NAT or macvlan; empty: the ingress interface's own address"`
	BootServer envcfg.IPv4      `envconfig:"PXE_BOOT_SERVER" desc:"TFTP/boot server to send clients to (siaddr, option 66), e.g. an existing WDS box; empty: ourselves"`
	IPv6       envcfg.Auto      `envconfig:"PXE_IPV6" default:"auto" desc:"boot UEFI clients over IPv6 too: DHCPv6 ProxyDHCP on UDP 547 (ff02::1:2) and 4011 next to the site's DHCPv6 server (never an address), TFTP on [::]:69; auto: on when a served interface has a global or ULA IPv6 address at start"`
	ServerIP6  envcfg.IPv6      `envconfig:"PXE_SERVER_IP6" desc:"IPv6 address (global or ULA) put in the boot-file URLs of IPv6 clients, for NAT66 or macvlan; empty: the ingress interface's global or ULA address on the client's prefix"`

	BootfileBIOS   string           `envconfig:"PXE_BOOTFILE_BIOS" default:"undionly.kpxe" desc:"boot file for x86 BIOS clients (option 93 = 0)"`
	BootfileUEFI   string           `envconfig:"PXE_BOOTFILE_UEFI" default:"snponly.efi" desc:"boot file for x86-64 UEFI (93 = 7 and 9); snponly.efi drives the NIC through the firmware's own driver, which FOG found the most reliable"`
	BootfileUEFI32 string           `envconfig:"PXE_BOOTFILE_UEFI32" default:"ipxe-i386.efi" desc:"boot file for 32-bit x86 UEFI (93 = 6)"`
	BootfileARM64  string           `envconfig:"PXE_BOOTFILE_ARM64" default:"ipxe-arm64.efi" desc:"boot file for ARM64 UEFI (93 = 11)"`
	Bootfiles      envcfg.ArchFiles `envconfig:"PXE_BOOTFILES" desc:"extra arch=file pairs for any option 93 value, comma separated, overriding the above (e.g. 10=ipxe-arm32.efi,16=http://10.0.0.5/ipxe.efi); arch= with no file switches that architecture off"`
	IPXEScript     string           `envconfig:"PXE_IPXE_SCRIPT" default:"boot.ipxe" desc:"what clients already running iPXE get instead of iPXE again (a file name on the boot server or a URL)"`

	TFTP              envcfg.OnOff    `envconfig:"PXE_TFTP" default:"on" desc:"run the bundled read-only TFTP server (on/off); off when PXE_BOOT_SERVER points elsewhere"`
	TFTPAddr          string          `envconfig:"PXE_TFTP_ADDR" default:":69" desc:"address the TFTP server listens on; with no host (:69) it listens on IPv4 and, when PXE_IPV6 is on, on [::] too"`
	TFTPRoot          string          `envconfig:"PXE_TFTP_ROOT" default:"/srv/tftp" desc:"folder served by the TFTP server (read-only; Windows backslash paths and case-insensitive names are resolved inside it)"`
	TFTPDefaults      string          `envconfig:"PXE_TFTP_DEFAULTS" desc:"second folder searched when a file is not in PXE_TFTP_ROOT (the container image's built-in iPXE files and memtest86+)"`
	TFTPWindowSizeMax int             `envconfig:"PXE_TFTP_WINDOWSIZE_MAX" default:"64" desc:"largest RFC 7440 windowsize a client may negotiate, and largest window a Windows boot manager may ask through Microsoft's variable-window extension, msftwindow (1-64)"`
	TFTPMaxTransfers  int             `envconfig:"PXE_TFTP_MAX_TRANSFERS" default:"256" desc:"transfers at once; beyond it the oldest transfer whose client never answered (a forged source) gives up its slot, else the client gets a 'server busy' error"`
	ShutdownGrace     envcfg.Duration `envconfig:"PXE_SHUTDOWN_GRACE" default:"20s" desc:"how long in-flight transfers may finish after SIGTERM"`

	MenuTimeout envcfg.Duration `envconfig:"PXE_MENU_TIMEOUT" default:"30s" desc:"how long the generated boot menu waits for a key before it boots PXE_MENU_DEFAULT (at most 24h); 0: it waits for ever"`
	MenuDefault string          `envconfig:"PXE_MENU_DEFAULT" default:"local" desc:"stable id of the generated menu's default entry (e.g. linux-debian-12, memtest; README: Boot catalogue); one not in the menu (yet) boots the local disk"`
	WDSServer   envcfg.IPv4     `envconfig:"PXE_WDS_SERVER" desc:"an existing WDS server (IPv4): adds a menu entry that hands the client to it; empty: none"`

	HTTPAddr string `envconfig:"PXE_HTTP_ADDR" desc:"HTTP listener for /healthz, /metrics, the boot journeys page and API (/ and /api/v1/) and boot files over HTTP, which the boot menu uses for big files (e.g. :4011, the container image's default); keep it on the management side; empty: off"`
	HTTPURL  string `envconfig:"PXE_HTTP_URL" desc:"base URL given to UEFI HTTP boot clients instead of our own HTTP listener (must be an IP-literal http:// URL; IPv6 clients get it only when its host is an IPv6 address)"`

	JournalClients int `envconfig:"PXE_JOURNAL_CLIENTS" default:"1000" desc:"boot journeys kept (one per client, the last 200 events each) for the web page at / and /api/v1/ on PXE_HTTP_ADDR; past it the least recently active client is forgotten (1-100000)"`

	AllowMACs       envcfg.MACList  `envconfig:"PXE_ALLOW_MACS" desc:"answer only these clients: comma list of MACs or prefixes (52:54:00 matches a whole OUI); empty: everyone"`
	DenyMACs        envcfg.MACList  `envconfig:"PXE_DENY_MACS" desc:"never answer these clients (MACs or prefixes); deny wins over allow"`
	MACBootFiles    envcfg.MACFiles `envconfig:"PXE_MAC_BOOTFILES" desc:"per-client boot files: comma list of mac-or-prefix=file, overriding the architecture's file (longest prefix wins; iPXE clients still get PXE_IPXE_SCRIPT)"`
	ReplyDelay      envcfg.Duration `envconfig:"PXE_REPLY_DELAY" default:"0s" desc:"quirk: hold every reply back this long (at most 5s), for ROMs that miss an instant answer (as dnsmasq's dhcp-reply-delay)"`
	AnswerRequest67 envcfg.OnOff    `envconfig:"PXE_ANSWER_REQUEST_67" default:"off" desc:"quirk: answer a DHCPREQUEST on port 67 that names this server in option 54, needed by some old Intel PXE ROMs (pixiecore issue 21); never a REQUEST for another server"`

	ConflictWatch envcfg.OnOff     `envconfig:"PXE_CONFLICT_WATCH" default:"on" desc:"listen (never send) for other DHCP servers' broadcast replies on port 68 and warn, once per server and kind every 10 minutes, when one sends option 60 PXEClient, a boot file or options 66/67 in its lease offers, or is a second ProxyDHCP"`
	RecvBuffer    int              `envconfig:"PXE_DHCP_RCVBUF" default:"16777216" desc:"receive buffer in bytes for ports 67 and 4011 (and 547 and 4011 over IPv6), so a burst of DISCOVERs is not dropped (needs CAP_NET_ADMIN or net.core.rmem_max above it)"`
	LogLevel      envcfg.LogLevel  `envconfig:"PXE_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat     envcfg.LogFormat `envconfig:"PXE_LOG_FORMAT" default:"text" desc:"text or json"`
}

// loadConfig reads the environment. A bad value gives one error line naming
// the variable, the value and what is expected.
func loadConfig() (*Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		if pe, ok := err.(*envconfig.ParseError); ok {
			return nil, fmt.Errorf("%s=%q: %w", pe.KeyName, pe.Value, pe.Err)
		}
		return nil, err
	}
	return &c, c.validate()
}

func (c *Config) validate() error {
	if c.TFTPWindowSizeMax < 1 || c.TFTPWindowSizeMax > 64 {
		return fmt.Errorf("PXE_TFTP_WINDOWSIZE_MAX=%d: expected 1 to 64", c.TFTPWindowSizeMax)
	}
	if c.TFTPMaxTransfers < 1 {
		return fmt.Errorf("PXE_TFTP_MAX_TRANSFERS=%d: expected at least 1", c.TFTPMaxTransfers)
	}
	if c.JournalClients < 1 || c.JournalClients > maxJournalClients {
		return fmt.Errorf("PXE_JOURNAL_CLIENTS=%d: expected 1 to %d", c.JournalClients, maxJournalClients)
	}
	// The kernel takes the size as a C int: past 2^31 it would wrap.
	if c.RecvBuffer != 0 && (c.RecvBuffer < 4096 || c.RecvBuffer > 1<<30) {
		return fmt.Errorf("PXE_DHCP_RCVBUF=%d: expected a size in bytes from 4096 to 1073741824 (0: the kernel's default)", c.RecvBuffer)
	}
	if c.ShutdownGrace < 0 {
		return fmt.Errorf("PXE_SHUTDOWN_GRACE=%s: expected a positive duration", time.Duration(c.ShutdownGrace))
	}
	// A held reply is a timer and a packet in memory; firmware that needs a
	// delay needs one or two seconds (dnsmasq's dhcp-reply-delay is used so).
	if time.Duration(c.ReplyDelay) > maxReplyDelay {
		return fmt.Errorf("PXE_REPLY_DELAY=%s: expected at most %s, such as 1s", time.Duration(c.ReplyDelay), maxReplyDelay)
	}
	if c.TFTP {
		if err := checkListen(c.TFTPAddr); err != nil {
			return fmt.Errorf("PXE_TFTP_ADDR=%q: %w, such as :69", c.TFTPAddr, err)
		}
	}
	if c.HTTPAddr != "" {
		if err := checkListen(c.HTTPAddr); err != nil {
			return fmt.Errorf("PXE_HTTP_ADDR=%q: %w, such as :4011", c.HTTPAddr, err)
		}
	}
	if c.HTTPURL != "" {
		if err := checkHTTPURL(c.HTTPURL); err != nil {
			return fmt.Errorf("PXE_HTTP_URL=%q: %w", c.HTTPURL, err)
		}
	}
	if d := time.Duration(c.MenuTimeout); d > maxMenuTimeout {
		return fmt.Errorf("PXE_MENU_TIMEOUT=%s: expected at most %s (0: wait for a key for ever)", d, maxMenuTimeout)
	}
	if err := (catalog.Options{Default: c.MenuDefault}).Check(); err != nil {
		return fmt.Errorf("PXE_MENU_DEFAULT=%q: expected an entry id such as local, memtest or linux-debian-12 (a-z, 0-9, '-')", c.MenuDefault)
	}
	if strings.TrimSpace(c.IPXEScript) == "" {
		return errors.New(`PXE_IPXE_SCRIPT="": expected a file name or an http:// URL (empty, iPXE clients would get iPXE again and loop)`)
	}
	for _, f := range []struct{ name, value string }{
		{"PXE_BOOTFILE_BIOS", c.BootfileBIOS}, {"PXE_BOOTFILE_UEFI", c.BootfileUEFI},
		{"PXE_BOOTFILE_UEFI32", c.BootfileUEFI32}, {"PXE_BOOTFILE_ARM64", c.BootfileARM64},
		{"PXE_IPXE_SCRIPT", c.IPXEScript},
	} {
		if len(f.value) > 255 || strings.ContainsAny(f.value, "\x00\n\r") {
			return fmt.Errorf("%s=%q: expected a file name or URL of at most 255 bytes on one line", f.name, f.value)
		}
	}
	for _, name := range c.Interfaces {
		if _, err := net.InterfaceByName(name); err != nil {
			return fmt.Errorf("PXE_INTERFACES=%q: no interface named %q on this host (expected a comma list of interface names)", strings.Join(c.Interfaces, ","), name)
		}
	}
	return nil
}

// maxReplyDelay bounds PXE_REPLY_DELAY.
const maxReplyDelay = 5 * time.Second

// maxJournalClients bounds PXE_JOURNAL_CLIENTS: each journey holds up to 200
// events, and the journal's memory is what the LAN can make it hold.
const maxJournalClients = 100000

// maxMenuTimeout bounds PXE_MENU_TIMEOUT: iPXE counts it in milliseconds.
const maxMenuTimeout = 24 * time.Hour

// warnings lists settings that start but probably do not do what the admin
// wants; serve logs each at Warn.
func (c *Config) warnings() []string {
	var w []string
	if len(c.bootFiles()) == 0 {
		w = append(w, "every architecture is switched off (PXE_BOOTFILE_* and PXE_BOOTFILES empty): no PXE client will be answered")
	}
	if c.IPv6 == envcfg.AutoOff && c.ServerIP6.IP != nil {
		w = append(w, "PXE_SERVER_IP6 is set but PXE_IPV6=off: it is not used")
	}
	return w
}

// checkListen checks a listen address: an IP literal or nothing, and a port.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("expected host:port")
	}
	if host != "" && net.ParseIP(host) == nil {
		return errors.New("expected an IP address or nothing before the port")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return errors.New("expected a port number from 1 to 65535")
	}
	return nil
}

// checkHTTPURL accepts what UEFI HTTP boot firmware can follow from a proxy
// offer alone: http:// with an IP-literal host (a name needs DNS from the
// lease offer; EDK2 HttpBootDhcp4.c) and no https (no certificates enrolled).
func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(v, " \t\n\r") {
		return errors.New("expected an http:// URL with an IP address, such as http://10.0.0.5:8080/boot")
	}
	host := u.Hostname()
	if net.ParseIP(host) == nil {
		return fmt.Errorf("host %q is not an IP address (firmware cannot resolve names from a proxy offer), such as http://10.0.0.5:8080/boot", host)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return errors.New("expected a port number from 1 to 65535")
		}
	}
	return nil
}

// bootFiles merges the per-architecture variables and PXE_BOOTFILES.
func (c *Config) bootFiles() map[uint16]string {
	m := map[uint16]string{
		0:  c.BootfileBIOS,
		6:  c.BootfileUEFI32,
		7:  c.BootfileUEFI,
		9:  c.BootfileUEFI,
		11: c.BootfileARM64,
	}
	for a, f := range c.Bootfiles {
		m[a] = f
	}
	for a, f := range m {
		if f == "" {
			delete(m, a) // an empty variable switches that architecture off
		}
	}
	return m
}

// usage is the text of `pxeproxy --help`.
func usage() string {
	var b strings.Builder
	b.WriteString(`pxeproxy: ProxyDHCP-only PXE boot server with a bundled read-only TFTP server.

It answers PXE firmware on UDP 67 and 4011 with boot instructions and never
leases an address: the site's DHCP server keeps doing that.

Usage:
  pxeproxy                 run (configured by the environment variables below)
  pxeproxy healthcheck     probe the local services (for Docker HEALTHCHECK)
  pxeproxy clients         print the boot journeys of the running instance (PXE_HTTP_ADDR)
  pxeproxy probe [-arch N] [-timeout 4s] [-mac iface|random|MAC] IFACE
                           send one PXE DISCOVER on IFACE and say what a client would do
  pxeproxy --help          this text

Environment:
`)
	b.WriteString(envcfg.Help(envcfg.Vars(Config{})))
	return b.String()
}

// markdownEnv renders the README's environment table.
func markdownEnv() string { return envcfg.Markdown(envcfg.Vars(Config{})) }
