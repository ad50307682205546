// Package envcfg holds the value types of pxeproxy's environment variables
// (each decodes itself for envconfig and says what it expects in one line)
// and renders the --help text and the README table from a settings struct's
// tags, so that they cannot drift from what is parsed.
package envcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/macprefix"
)

// items returns the trimmed, non-empty items of a comma list.
func items(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// IfaceList is a comma list of interface names.
type IfaceList []string

func (l *IfaceList) Decode(v string) error {
	*l = nil
	for _, f := range items(v) {
		if len(f) > 15 || strings.ContainsAny(f, " /:") {
			return fmt.Errorf("%q is not an interface name (expected a comma list such as eth0,eth1)", f)
		}
		if !slices.Contains(*l, f) {
			*l = append(*l, f)
		}
	}
	return nil
}

// IPv4 is an optional IPv4 address.
type IPv4 struct{ net.IP }

func (a *IPv4) Decode(v string) error {
	return decodeIP(&a.IP, v, func(v string) net.IP {
		ip := net.ParseIP(v).To4()
		// Loopback, "this network" (0/8) and the reserved 240/4 are never
		// an address a PXE client on the LAN can reach.
		if ip == nil || ip.IsLoopback() || ip[0] == 0 || ip[0] >= 240 || ip.IsMulticast() {
			return nil
		}
		return ip
	}, "expected a unicast IPv4 address on the LAN such as 192.168.1.10 (not loopback, multicast or broadcast)")
}

// decodeIP sets *dst to parse(v), or to nil when v is empty; expect is the
// error when parse returns nil.
func decodeIP(dst *net.IP, v string, parse func(string) net.IP, expect string) error {
	if v = strings.TrimSpace(v); v == "" {
		*dst = nil
		return nil
	}
	ip := parse(v)
	if ip == nil {
		return errors.New(expect)
	}
	*dst = ip
	return nil
}

// IPv6 is an optional global or ULA unicast IPv6 address: what a client on
// the LAN, or behind a relay, can reach (a link-local address has no place
// in a URL, which cannot carry its zone).
type IPv6 struct{ net.IP }

func (a *IPv6) Decode(v string) error {
	return decodeIP(&a.IP, v, func(v string) net.IP {
		if ip := net.ParseIP(v); ip != nil && ip.To4() == nil && ip.IsGlobalUnicast() {
			return ip
		}
		return nil
	}, "expected a global or ULA unicast IPv6 address such as 2001:db8::5 or fd00::5 (not link-local, loopback, multicast or IPv4)")
}

// Auto is a switch written on, off or auto (the default, decided at start
// by the program); true/false, 1/0 and yes/no also work.
type Auto string

// Auto values.
const (
	AutoOn   Auto = "on"
	AutoOff  Auto = "off"
	AutoAuto Auto = "auto"
)

func (a *Auto) Decode(v string) error {
	if strings.EqualFold(strings.TrimSpace(v), "auto") || strings.TrimSpace(v) == "" {
		*a = AutoAuto
		return nil
	}
	var b OnOff
	if err := b.Decode(v); err != nil {
		return fmt.Errorf("expected on, off or auto")
	}
	*a = AutoOff
	if b {
		*a = AutoOn
	}
	return nil
}

// ArchFiles is a list of arch=file pairs. envconfig's own map type splits on
// ':' and would break file names and URLs, hence this decoder.
type ArchFiles map[uint16]string

func (m *ArchFiles) Decode(v string) error {
	out := ArchFiles{}
	for _, pair := range items(v) {
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

// MACList is a comma list of MAC addresses or prefixes. envconfig would read
// a net.HardwareAddr as raw ASCII bytes, hence this decoder.
type MACList []macprefix.Prefix

func (l *MACList) Decode(v string) error {
	*l = nil
	for _, f := range items(v) {
		p, err := ParseMACPrefix(f)
		if err != nil {
			return err
		}
		*l = append(*l, p)
	}
	return nil
}

// ParseMACPrefix reads 1 to 6 hex bytes separated by ':' or '-'.
func ParseMACPrefix(s string) (macprefix.Prefix, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' })
	if len(parts) == 0 || len(parts) > 6 {
		return nil, fmt.Errorf("%q: expected a MAC address or prefix such as 52:54:00 or 52:54:00:12:34:56", s)
	}
	p := make(macprefix.Prefix, len(parts))
	for i, h := range parts {
		b, err := strconv.ParseUint(h, 16, 8)
		if err != nil || len(h) > 2 {
			return nil, fmt.Errorf("%q: expected a MAC address or prefix such as 52:54:00 or 52:54:00:12:34:56", s)
		}
		p[i] = byte(b)
	}
	return p, nil
}

// MACFiles is a comma list of mac-or-prefix=file pairs.
type MACFiles []macprefix.BootFile

func (m *MACFiles) Decode(v string) error {
	*m = nil
	for _, pair := range items(v) {
		k, file, ok := strings.Cut(pair, "=")
		file = strings.TrimSpace(file)
		if !ok || file == "" || len(file) > 255 {
			return fmt.Errorf("%q: expected mac-or-prefix=file pairs such as 52:54:00:12:34:56=special.efi", pair)
		}
		p, err := ParseMACPrefix(strings.TrimSpace(k))
		if err != nil {
			return err
		}
		*m = append(*m, macprefix.BootFile{Prefix: p, File: file})
	}
	return nil
}

// OnOff is a switch written on/off (true/false, 1/0 and yes/no also work).
type OnOff bool

func (b *OnOff) Decode(v string) error {
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

// Duration is a Go Duration such as 20s or 1m.
type Duration time.Duration

func (d *Duration) Decode(v string) error {
	x, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || x < 0 {
		return fmt.Errorf("expected a duration such as 500ms, 20s or 1m")
	}
	*d = Duration(x)
	return nil
}

type LogLevel slog.Level

func (l *LogLevel) Decode(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "debug":
		*l = LogLevel(slog.LevelDebug)
	case "info", "":
		*l = LogLevel(slog.LevelInfo)
	case "warn", "warning":
		*l = LogLevel(slog.LevelWarn)
	case "error":
		*l = LogLevel(slog.LevelError)
	default:
		return fmt.Errorf("expected debug, info, warn or error")
	}
	return nil
}

type LogFormat string

func (f *LogFormat) Decode(v string) error {
	switch s := strings.ToLower(strings.TrimSpace(v)); s {
	case "text", "json":
		*f = LogFormat(s)
	case "":
		*f = "text"
	default:
		return fmt.Errorf("expected text or json")
	}
	return nil
}

// TypeName is the word --help and the README use for the value's type.
func (IfaceList) TypeName() string { return "list" }
func (IPv4) TypeName() string      { return "IPv4" }
func (IPv6) TypeName() string      { return "IPv6" }
func (Auto) TypeName() string      { return "on/off/auto" }
func (ArchFiles) TypeName() string { return "arch=file list" }
func (MACList) TypeName() string   { return "MAC list" }
func (MACFiles) TypeName() string  { return "mac=file list" }
func (OnOff) TypeName() string     { return "on/off" }
func (Duration) TypeName() string  { return "duration" }
func (LogLevel) TypeName() string  { return "word" }
func (LogFormat) TypeName() string { return "word" }

// Var describes one variable for --help and the README.
type Var struct{ Name, Type, Default, Desc string }

// Vars lists the variables of a settings struct from its tags: envconfig
// (the name), default and desc.
func Vars(settings any) []Var {
	t := reflect.TypeOf(settings)
	var out []Var
	for i := range t.NumField() {
		f := t.Field(i)
		typ := f.Type.Kind().String()
		if n, ok := reflect.Zero(f.Type).Interface().(interface{ TypeName() string }); ok {
			typ = n.TypeName()
		}
		out = append(out, Var{
			Name:    f.Tag.Get("envconfig"),
			Type:    typ,
			Default: f.Tag.Get("default"),
			Desc:    f.Tag.Get("desc"),
		})
	}
	return out
}

// Help renders the variables as the indented list of --help.
func Help(vars []Var) string {
	var b strings.Builder
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "  %s (%s, default %s)\n      %s\n", v.Name, v.Type, def, v.Desc)
	}
	return b.String()
}

// Markdown renders the variables as the README's table.
func Markdown(vars []Var) string {
	var b strings.Builder
	b.WriteString("| variable | type | default | meaning |\n|---|---|---|---|\n")
	for _, v := range vars {
		def := "`" + v.Default + "`"
		if v.Default == "" {
			def = "empty"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Name, v.Type, def, strings.ReplaceAll(v.Desc, "|", "\\|"))
	}
	return b.String()
}
