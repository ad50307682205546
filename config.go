package main

import (
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/pxeproxy/pxeproxy/proxy"
)

// Config is every setting of pxeproxy. Only main reads the environment: the
// packages get plain structs built from this one. The tags are the public
// interface: `envconfig` is the variable's full name, `default` its default,
// `desc` the line `pxeproxy --help` and the README table print.
type Config struct {
	Interfaces ifaceList `envconfig:"PXE_INTERFACES" desc:"comma list of interfaces to answer on; empty: every up, non-loopback interface with an IPv4 address"`
	ServerIP   ipv4Addr  `envconfig:"PXE_SERVER_IP" desc:"address to advertise as server (option 54) and boot server, for NAT or macvlan; empty: the ingress interface's own address"`
	BootServer ipv4Addr  `envconfig:"PXE_BOOT_SERVER" desc:"TFTP/boot server to send clients to (siaddr, option 66), e.g. an existing WDS box; empty: ourselves"`

	BootfileBIOS   string    `envconfig:"PXE_BOOTFILE_BIOS" default:"undionly.kpxe" desc:"boot file for x86 BIOS clients (option 93 = 0)"`
	BootfileUEFI   string    `envconfig:"PXE_BOOTFILE_UEFI" default:"snponly.efi" desc:"boot file for x86-64 UEFI (93 = 7 and 9); snponly.efi drives the NIC through the firmware's own driver, which FOG found the most reliable"`
	BootfileUEFI32 string    `envconfig:"PXE_BOOTFILE_UEFI32" default:"ipxe-i386.efi" desc:"boot file for 32-bit x86 UEFI (93 = 6)"`
	BootfileARM64  string    `envconfig:"PXE_BOOTFILE_ARM64" default:"ipxe-arm64.efi" desc:"boot file for ARM64 UEFI (93 = 11)"`
	Bootfiles      archFiles `envconfig:"PXE_BOOTFILES" desc:"extra arch=file pairs for any option 93 value, comma separated, overriding the above (e.g. 10=ipxe-arm32.efi,16=http://10.0.0.5/ipxe.efi); arch= with no file switches that architecture off"`
	IPXEScript     string    `envconfig:"PXE_IPXE_SCRIPT" default:"boot.ipxe" desc:"what clients already running iPXE get instead of iPXE again (a file name on the boot server or a URL)"`

	TFTP              onOff    `envconfig:"PXE_TFTP" default:"on" desc:"run the bundled read-only TFTP server (on/off); off when PXE_BOOT_SERVER points elsewhere"`
	TFTPAddr          string   `envconfig:"PXE_TFTP_ADDR" default:":69" desc:"address the TFTP server listens on"`
	TFTPRoot          string   `envconfig:"PXE_TFTP_ROOT" default:"/srv/tftp" desc:"folder served by the TFTP server (read-only; Windows backslash paths and case-insensitive names are resolved inside it)"`
	TFTPDefaults      string   `envconfig:"PXE_TFTP_DEFAULTS" desc:"second folder searched when a file is not in PXE_TFTP_ROOT (the container image's built-in iPXE files and menu)"`
	TFTPWindowSizeMax int      `envconfig:"PXE_TFTP_WINDOWSIZE_MAX" default:"64" desc:"largest RFC 7440 windowsize a client may negotiate (1-64)"`
	TFTPMaxTransfers  int      `envconfig:"PXE_TFTP_MAX_TRANSFERS" default:"256" desc:"transfers at once; beyond it clients get a 'server busy' error"`
	ShutdownGrace     duration `envconfig:"PXE_SHUTDOWN_GRACE" default:"20s" desc:"how long in-flight transfers may finish after SIGTERM"`

	HTTPAddr string `envconfig:"PXE_HTTP_ADDR" desc:"HTTP listener for /healthz, /metrics and boot files over HTTP (e.g. :8080); empty: off"`
	HTTPURL  string `envconfig:"PXE_HTTP_URL" desc:"base URL given to UEFI HTTP boot clients instead of our own HTTP listener (must be an IP-literal http:// URL)"`

	AllowMACs       macList  `envconfig:"PXE_ALLOW_MACS" desc:"answer only these clients: comma list of MACs or prefixes (52:54:00 matches a whole OUI); empty: everyone"`
	DenyMACs        macList  `envconfig:"PXE_DENY_MACS" desc:"never answer these clients (MACs or prefixes); deny wins over allow"`
	MACBootFiles    macFiles `envconfig:"PXE_MAC_BOOTFILES" desc:"per-client boot files: comma list of mac-or-prefix=file, overriding the architecture's file (longest prefix wins; iPXE clients still get PXE_IPXE_SCRIPT)"`
	ReplyDelay      duration `envconfig:"PXE_REPLY_DELAY" default:"0s" desc:"quirk: hold every reply back this long, for ROMs that miss an instant answer (as dnsmasq's dhcp-reply-delay)"`
	AnswerRequest67 onOff    `envconfig:"PXE_ANSWER_REQUEST_67" default:"off" desc:"quirk: answer a DHCPREQUEST on port 67 that names this server in option 54, needed by some old Intel PXE ROMs (pixiecore issue 21); never a REQUEST for another server"`

	ConflictWatch onOff    `envconfig:"PXE_CONFLICT_WATCH" default:"on" desc:"listen (never send) for other DHCP servers' broadcast replies on port 68 and warn, once per server and kind every 10 minutes, when one sends option 60 PXEClient, a boot file or options 66/67 in its lease offers, or is a second ProxyDHCP"`
	RecvBuffer    int      `envconfig:"PXE_DHCP_RCVBUF" default:"16777216" desc:"receive buffer in bytes for ports 67 and 4011, so a burst of DISCOVERs is not dropped (needs CAP_NET_ADMIN or net.core.rmem_max above it)"`
	LogLevel      logLevel `envconfig:"PXE_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat     logFmt   `envconfig:"PXE_LOG_FORMAT" default:"text" desc:"text or json"`
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
	if c.RecvBuffer < 0 {
		return fmt.Errorf("PXE_DHCP_RCVBUF=%d: expected a size in bytes", c.RecvBuffer)
	}
	if c.ShutdownGrace < 0 {
		return fmt.Errorf("PXE_SHUTDOWN_GRACE=%s: expected a positive duration", time.Duration(c.ShutdownGrace))
	}
	if c.TFTP {
		if _, _, err := net.SplitHostPort(c.TFTPAddr); err != nil {
			return fmt.Errorf("PXE_TFTP_ADDR=%q: expected host:port such as :69", c.TFTPAddr)
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return fmt.Errorf("PXE_HTTP_ADDR=%q: expected host:port such as :8080", c.HTTPAddr)
		}
	}
	if c.HTTPURL != "" && !strings.HasPrefix(c.HTTPURL, "http://") && !strings.HasPrefix(c.HTTPURL, "https://") {
		return fmt.Errorf("PXE_HTTP_URL=%q: expected an http:// URL", c.HTTPURL)
	}
	for _, name := range c.Interfaces {
		if _, err := net.InterfaceByName(name); err != nil {
			return fmt.Errorf("PXE_INTERFACES=%q: no interface named %q on this host (expected a comma list of interface names)", strings.Join(c.Interfaces, ","), name)
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

// ifaceList is a comma list of interface names.
type ifaceList []string

func (l *ifaceList) Decode(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if len(f) > 15 || strings.ContainsAny(f, " /:") {
			return fmt.Errorf("%q is not an interface name (expected a comma list such as eth0,eth1)", f)
		}
		if !slices.Contains(*l, f) {
			*l = append(*l, f)
		}
	}
	return nil
}

// ipv4Addr is an optional IPv4 address.
type ipv4Addr struct{ net.IP }

func (a *ipv4Addr) Decode(v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		a.IP = nil
		return nil
	}
	ip := net.ParseIP(v).To4()
	if ip == nil || ip.IsUnspecified() || ip.IsMulticast() || ip.Equal(net.IPv4bcast) {
		return fmt.Errorf("expected a unicast IPv4 address such as 192.168.1.10")
	}
	a.IP = ip
	return nil
}

// archFiles is a list of arch=file pairs. envconfig's own map type splits on
// ':' and would break file names and URLs, hence this decoder.
type archFiles map[uint16]string

func (m *archFiles) Decode(v string) error {
	out := archFiles{}
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, file, ok := strings.Cut(pair, "=")
		arch, err := strconv.ParseUint(strings.TrimSpace(k), 10, 16)
		if !ok || err != nil {
			return fmt.Errorf("%q: expected arch=file pairs with arch an option 93 number, such as 7=snponly.efi,11=ipxe-arm64.efi", pair)
		}
		file = strings.TrimSpace(file)
		if len(file) > 255 || strings.ContainsRune(file, 0) {
			return fmt.Errorf("%q: expected a file name of at most 255 bytes after '='", pair)
		}
		out[uint16(arch)] = file
	}
	*m = out
	return nil
}

// macList is a comma list of MAC addresses or prefixes. envconfig would read
// a net.HardwareAddr as raw ASCII bytes, hence this decoder.
type macList []proxy.MACPrefix

func (l *macList) Decode(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := parseMACPrefix(f)
		if err != nil {
			return err
		}
		*l = append(*l, p)
	}
	return nil
}

// parseMACPrefix reads 1 to 6 hex bytes separated by ':' or '-'.
func parseMACPrefix(s string) (proxy.MACPrefix, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' })
	if len(parts) == 0 || len(parts) > 6 {
		return nil, fmt.Errorf("%q: expected a MAC address or prefix such as 52:54:00 or 52:54:00:12:34:56", s)
	}
	p := make(proxy.MACPrefix, len(parts))
	for i, h := range parts {
		b, err := strconv.ParseUint(h, 16, 8)
		if err != nil || len(h) > 2 {
			return nil, fmt.Errorf("%q: expected a MAC address or prefix such as 52:54:00 or 52:54:00:12:34:56", s)
		}
		p[i] = byte(b)
	}
	return p, nil
}

// macFiles is a comma list of mac-or-prefix=file pairs.
type macFiles []proxy.MACBootFile

func (m *macFiles) Decode(v string) error {
	*m = nil
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, file, ok := strings.Cut(pair, "=")
		file = strings.TrimSpace(file)
		if !ok || file == "" || len(file) > 255 {
			return fmt.Errorf("%q: expected mac-or-prefix=file pairs such as 52:54:00:12:34:56=special.efi", pair)
		}
		p, err := parseMACPrefix(strings.TrimSpace(k))
		if err != nil {
			return err
		}
		*m = append(*m, proxy.MACBootFile{Prefix: p, File: file})
	}
	return nil
}

// onOff is a switch written on/off (true/false, 1/0 and yes/no also work).
type onOff bool

func (b *onOff) Decode(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "1", "yes":
		*b = true
	case "off", "false", "0", "no":
		*b = false
	default:
		return fmt.Errorf("expected on or off")
	}
	return nil
}

// duration is a Go duration such as 20s or 1m.
type duration time.Duration

func (d *duration) Decode(v string) error {
	x, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || x < 0 {
		return fmt.Errorf("expected a duration such as 500ms, 20s or 1m")
	}
	*d = duration(x)
	return nil
}

type logLevel slog.Level

func (l *logLevel) Decode(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "debug":
		*l = logLevel(slog.LevelDebug)
	case "info", "":
		*l = logLevel(slog.LevelInfo)
	case "warn", "warning":
		*l = logLevel(slog.LevelWarn)
	case "error":
		*l = logLevel(slog.LevelError)
	default:
		return fmt.Errorf("expected debug, info, warn or error")
	}
	return nil
}

type logFmt string

func (f *logFmt) Decode(v string) error {
	switch s := strings.ToLower(strings.TrimSpace(v)); s {
	case "text", "json":
		*f = logFmt(s)
	case "":
		*f = "text"
	default:
		return fmt.Errorf("expected text or json")
	}
	return nil
}

// envVar describes one variable for --help and the README.
type envVar struct{ Name, Type, Default, Desc string }

// envVars lists the variables from the Config struct's tags, so the help
// text and the README cannot drift from what is parsed.
func envVars() []envVar {
	t := reflect.TypeOf(Config{})
	var out []envVar
	for i := range t.NumField() {
		f := t.Field(i)
		out = append(out, envVar{
			Name:    f.Tag.Get("envconfig"),
			Type:    typeName(f.Type),
			Default: f.Tag.Get("default"),
			Desc:    f.Tag.Get("desc"),
		})
	}
	return out
}

func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(ifaceList{}):
		return "list"
	case reflect.TypeOf(ipv4Addr{}):
		return "IPv4"
	case reflect.TypeOf(archFiles{}):
		return "arch=file list"
	case reflect.TypeOf(macList{}):
		return "MAC list"
	case reflect.TypeOf(macFiles{}):
		return "mac=file list"
	case reflect.TypeOf(onOff(false)):
		return "on/off"
	case reflect.TypeOf(duration(0)):
		return "duration"
	case reflect.TypeOf(logLevel(0)), reflect.TypeOf(logFmt("")):
		return "word"
	}
	return t.Kind().String()
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
  pxeproxy probe [-arch N] [-timeout 4s] [-mac iface|random|MAC] IFACE
                           send one PXE DISCOVER on IFACE and say what a client would do
  pxeproxy --help          this text

Environment:
`)
	for _, v := range envVars() {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "  %s (%s, default %s)\n      %s\n", v.Name, v.Type, def, v.Desc)
	}
	return b.String()
}

// markdownEnv renders the README's environment table.
func markdownEnv() string {
	var b strings.Builder
	b.WriteString("| variable | type | default | meaning |\n|---|---|---|---|\n")
	for _, v := range envVars() {
		def := "`" + v.Default + "`"
		if v.Default == "" {
			def = "empty"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Name, v.Type, def, strings.ReplaceAll(v.Desc, "|", "\\|"))
	}
	return b.String()
}
