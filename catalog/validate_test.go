package catalog

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// validateScript checks a generated menu against the grammar of what Menu
// is meant to write, the way iPXE reads it (src/core/exec.c,
// src/image/script.c): lines split on '\n', tokens on white space, "||",
// "&&" and ";" tokens end a command, a token starting with '#' starts a
// comment, "${" expands, a trailing '\' joins lines. Every line must have
// one of the shapes below, with command terminators and expansions only
// where the shape puts them; text from the boot folder may only appear as
// free text (titles), URL paths, kernel arguments or Windows file names,
// each with its own character set. It is independent of the sanitisers in
// safe.go, so a broken sanitiser shows up here.
func validateScript(script []byte, opt Options) error {
	s := string(script)
	if !strings.HasPrefix(s, "#!ipxe\n") || !strings.HasSuffix(s, "\n") {
		return fmt.Errorf("no #!ipxe header or no final newline")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\n') || c >= 0x7f {
			return fmt.Errorf("byte %#x at offset %d", c, i)
		}
	}
	labels := map[string]bool{}
	gotos := map[string]bool{}
	items := map[string]bool{}
	base := strings.TrimRight(opt.HTTPBase, "/")
	state, prev := "preamble", ""
	for n, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.HasSuffix(line, `\`) {
			return fmt.Errorf("line %d ends with a backslash: %q", n+1, line)
		}
		if n < 3 {
			continue // header and comments, checked below
		}
		toks := strings.Fields(line)
		norm := strings.Join(toks, " ")
		// Which commands may appear where: the preamble sets, the menu
		// block lists items, entries boot.
		cmd := ""
		if len(toks) > 0 {
			cmd = toks[0]
		}
		switch {
		case state == "preamble" && norm == ":pxeproxy/menu":
			state = "menu"
		case state == "preamble" && !(cmd == "" || cmd == "isset" || cmd == "set"):
			return fmt.Errorf("line %d %q: not a preamble command", n+1, line)
		case state == "menu" && norm == "goto ${pxeproxy-choice}":
			state = "entries"
		case state == "menu" && cmd != "menu" && cmd != "item" && cmd != "choose":
			return fmt.Errorf("line %d %q: not a menu command", n+1, line)
		case state != "menu" && (cmd == "menu" || cmd == "item" || cmd == "choose"):
			return fmt.Errorf("line %d %q: menu command outside the menu", n+1, line)
		}
		after := map[string]string{
			"reboot":                     ":reboot",
			"config":                     ":config",
			"shell":                      `echo Type "exit" to return to the menu.`,
			"set pxeproxy-default local": "echo Boot failed. Back to the menu, with the local disk as the default.",
		}
		if want, ok := after[norm]; ok && prev != want && state != "preamble" {
			return fmt.Errorf("line %d %q: not after %q", n+1, line, want)
		}
		if state != "preamble" && cmd == "set" && len(toks) > 1 && (toks[1] == "pxeproxy-timeout" || toks[1] == "pxeproxy-default" || toks[1] == "pxeproxy-http") && norm != "set pxeproxy-default local" {
			return fmt.Errorf("line %d %q: preamble setting later on", n+1, line)
		}
		if err := validateLine(toks, base, opt.TFTPServer, labels, gotos, items); err != nil {
			return fmt.Errorf("line %d %q: %w", n+1, line, err)
		}
		prev = norm
	}
	if state != "entries" {
		return fmt.Errorf("script ends in the %s", state)
	}
	lines := strings.SplitN(s, "\n", 4)
	if lines[1] != "# pxeproxy boot catalogue, generated from the boot folder for each request." ||
		lines[2] != "# A boot.ipxe of your own in the boot folder replaces it." {
		return fmt.Errorf("header comments changed")
	}
	for g := range gotos {
		if !labels[g] {
			return fmt.Errorf("goto %q: no such label", g)
		}
	}
	for id := range items {
		if !labels[id] {
			return fmt.Errorf("item %q: no label", id)
		}
	}
	return nil
}

var (
	reID       = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
	rePath     = regexp.MustCompile(`^[A-Za-z0-9._~%/-]*$`)
	reWinPath  = regexp.MustCompile(`^[A-Za-z0-9._\\-]+$`)
	reFreeText = regexp.MustCompile(`^[A-Za-z0-9 ._,:()\[\]+=@/!?~'-]*$`)
	reDigits   = regexp.MustCompile(`^[0-9]+$`)
)

const failTail = "|| goto pxeproxy/failed"

// fixed are the lines Menu writes word for word.
var fixed = map[string]bool{
	"isset ${pxeproxy-server} || set pxeproxy-server ${proxydhcp/next-server}": true,
	"isset ${pxeproxy-server} || set pxeproxy-server ${next-server}":           true,
	"menu pxeproxy boot menu": true,
	"item --gap -- Client ${netX/mac} ${netX/ip} (${buildarch}/${platform}), server ${pxeproxy-server}": true,
	"item --gap --": true,
	"choose --timeout ${pxeproxy-timeout} --default ${pxeproxy-default} pxeproxy-choice || goto local": true,
	"goto ${pxeproxy-choice}":      true,
	"imgfree":                      true,
	"boot || goto pxeproxy/failed": true,
	"iseq ${buildarch} x86_64 || goto pxeproxy/unsupported": true,
	"iseq ${platform} efi || goto pxeproxy/unsupported":     true,
	"goto pxeproxy/unsupported":                             true,
	"echo Booting from local disk...":                       true,
	"iseq ${platform} efi && exit ||":                       true,
	"sanboot --no-describe --drive 0x80 || exit":            true,
	`echo Type "exit" to return to the menu.`:               true,
	"shell":              true,
	"config":             true,
	"reboot":             true,
	"goto pxeproxy/menu": true,
	"echo This entry has no boot file for ${platform} firmware on ${buildarch}.": true,
	"echo Boot failed. Back to the menu, with the local disk as the default.":    true,
	"set pxeproxy-default local":                                          true,
	"prompt --timeout 5000 Press any key to continue ||":                  true,
	"item --gap -- Linux":                                                 true,
	"item --gap -- Windows":                                               true,
	"item --gap -- ISO images over HTTP (works for ISOs that support it)": true,
	"item --gap -- Tools":                                                 true,
}

func validateLine(toks []string, base, tftp string, labels, gotos, items map[string]bool) error {
	line := strings.Join(toks, " ")
	if fixed[line] {
		if toks[0] == "choose" || line == "set pxeproxy-default local" {
			gotos["local"] = true
		}
		if line == "goto pxeproxy/unsupported" || strings.HasSuffix(line, "|| goto pxeproxy/unsupported") {
			gotos["pxeproxy/unsupported"] = true
		}
		if strings.HasSuffix(line, failTail) {
			gotos["pxeproxy/failed"] = true
		}
		return nil
	}
	if len(toks) == 0 {
		return nil
	}
	url := func(u string) error {
		var p string
		switch {
		case base != "" && strings.HasPrefix(u, "${pxeproxy-http}/"):
			p = strings.TrimPrefix(u, "${pxeproxy-http}/")
		case tftp != "" && strings.HasPrefix(u, "tftp://"+tftp+"/"):
			p = strings.TrimPrefix(u, "tftp://"+tftp+"/")
		case tftp == "" && strings.HasPrefix(u, "/"):
			p = u[1:]
		default:
			return fmt.Errorf("url %q: unexpected base", u)
		}
		if !rePath.MatchString(p) {
			return fmt.Errorf("url path %q: unencoded characters", p)
		}
		return nil
	}
	tail := func(rest []string, want string) error {
		if strings.Join(rest, " ") != want {
			return fmt.Errorf("expected %q at the end", want)
		}
		if want == failTail {
			gotos["pxeproxy/failed"] = true
		}
		return nil
	}
	freeText := func(ts []string) error {
		for _, t := range ts {
			if !reFreeText.MatchString(t) {
				return fmt.Errorf("free text token %q", t)
			}
		}
		return nil
	}
	switch toks[0] {
	case "#!ipxe":
		return fmt.Errorf("second header")
	case "set":
		switch {
		case len(toks) == 3 && toks[1] == "pxeproxy-default" && reID.MatchString(toks[2]):
			return nil
		case len(toks) == 3 && toks[1] == "pxeproxy-timeout" && reDigits.MatchString(toks[2]):
			return nil
		case len(toks) == 3 && toks[1] == "pxeproxy-http" && base != "" && toks[2] == base:
			return nil
		case len(toks) == 3 && toks[1] == "netX/filename" && reWinPath.MatchString(toks[2]):
			return nil
		case len(toks) == 3 && toks[1] == "netX/next-server":
			if a, err := netip.ParseAddr(toks[2]); err == nil && a.Is4() {
				return nil
			}
		}
		return fmt.Errorf("unexpected set")
	case "isset":
		if line == "isset ${pxeproxy-server} || clear pxeproxy-http" && strings.Contains(base, "${pxeproxy-server}") {
			return nil
		}
		if len(toks) == 7 && toks[1] == "${proxydhcp/next-server}" && toks[2] == "&&" && toks[3] == "set" && toks[6] == "||" {
			switch toks[4] {
			case "proxydhcp/filename":
				if reWinPath.MatchString(toks[5]) {
					return nil
				}
			case "proxydhcp/next-server":
				if a, err := netip.ParseAddr(toks[5]); err == nil && a.Is4() {
					return nil
				}
			}
		}
		return fmt.Errorf("unexpected isset")
	case "iseq":
		if len(toks) == 7 && strings.Join(toks[:5], " ") == "iseq ${platform} efi && goto" && toks[6] == "||" &&
			strings.HasSuffix(toks[5], "/efi") && reID.MatchString(strings.TrimSuffix(toks[5], "/efi")) {
			gotos[toks[5]] = true
			return nil
		}
		return fmt.Errorf("unexpected iseq")
	case "item":
		switch {
		case len(toks) >= 3 && toks[1] == "--gap" && toks[2] == "--":
			return freeText(toks[3:])
		case len(toks) >= 3 && reID.MatchString(toks[1]):
			items[toks[1]] = true
			return freeText(toks[2:])
		case len(toks) >= 5 && toks[1] == "--key" && len(toks[2]) == 1 && strings.Contains("lscr", toks[2]) && reID.MatchString(toks[3]):
			items[toks[3]] = true
			return freeText(toks[4:])
		}
		return fmt.Errorf("unexpected item")
	case "echo":
		if len(toks) >= 2 && toks[1] == "Handing" {
			if len(toks) != 9 || strings.Join(toks[:8], " ") != "echo Handing over to Windows Deployment Services at" {
				return fmt.Errorf("unexpected echo")
			}
			if a, err := netip.ParseAddr(toks[8]); err != nil || !a.Is4() {
				return fmt.Errorf("echo: not an address")
			}
			return nil
		}
		if len(toks) < 2 || toks[1] != "Booting" {
			return fmt.Errorf("unexpected echo")
		}
		return freeText(toks[2:])
	case "kernel":
		i := slicesIndex(toks, "||")
		if i < 2 {
			return fmt.Errorf("kernel without url or ||")
		}
		if err := url(toks[1]); err != nil {
			return err
		}
		for _, a := range toks[2:i] {
			if a == "&&" || a == ";" || a[0] == '#' || strings.ContainsRune(a, '\\') {
				return fmt.Errorf("kernel argument %q", a)
			}
		}
		return tail(toks[i:], failTail)
	case "initrd":
		if len(toks) < 4 || toks[1] != "--name" {
			return fmt.Errorf("unexpected initrd")
		}
		name := toks[2]
		if !map[string]bool{"initrd": true, "bootmgr": true, "bootmgr.exe": true, "BCD": true, "boot.sdi": true, "boot.wim": true}[name] {
			return fmt.Errorf("initrd name %q", name)
		}
		if err := url(toks[3]); err != nil {
			return err
		}
		rest := toks[4:]
		if name != "initrd" {
			if len(rest) == 0 || rest[0] != name {
				return fmt.Errorf("wimboot file without its name argument")
			}
			rest = rest[1:]
		}
		return tail(rest, failTail)
	case "sanboot":
		if len(toks) < 3 || toks[1] != "--no-describe" || base == "" {
			return fmt.Errorf("unexpected sanboot")
		}
		if err := url(toks[2]); err != nil {
			return err
		}
		return tail(toks[3:], failTail)
	case "chain":
		if len(toks) < 2 {
			return fmt.Errorf("chain without url")
		}
		u := toks[1]
		if err := url(u); err != nil {
			// else a WDS server: an address and a Windows file name
			h, p, _ := strings.Cut(strings.TrimPrefix(u, "tftp://"), "/")
			if a, aerr := netip.ParseAddr(h); !strings.HasPrefix(u, "tftp://") || aerr != nil || !a.Is4() || !reWinPath.MatchString(p) {
				return err
			}
		}
		return tail(toks[2:], failTail)
	}
	if strings.HasPrefix(toks[0], ":") {
		if len(toks) != 1 {
			return fmt.Errorf("label with a command")
		}
		l := toks[0][1:]
		if !(reID.MatchString(l) || strings.HasPrefix(l, "pxeproxy/") || (strings.HasSuffix(l, "/efi") && reID.MatchString(strings.TrimSuffix(l, "/efi")))) {
			return fmt.Errorf("label %q", l)
		}
		if labels[l] {
			return fmt.Errorf("label %q twice", l)
		}
		labels[l] = true
		return nil
	}
	return fmt.Errorf("unexpected command %q", toks[0])
}

func slicesIndex(ts []string, s string) int {
	for i, t := range ts {
		if t == s {
			return i
		}
	}
	return -1
}

// TestValidateScriptRejects makes sure the validator the other tests rely
// on does fail on injected commands.
func TestValidateScriptRejects(t *testing.T) {
	if err := validateScript(Menu(nil, Options{}), Options{}); err != nil {
		t.Errorf("menu without entries: %v", err)
	}
	good := Menu([]Entry{
		{ID: "linux-x", Kind: KindLinux, Title: "X", Files: []File{{Role: RoleKernel, Path: "x/vmlinuz"}}},
		{ID: "local", Kind: KindLocal, Title: "Boot from local disk"},
	}, Options{HTTPBase: "http://192.0.2.1:8080"})
	opt := Options{HTTPBase: "http://192.0.2.1:8080"}
	if err := validateScript(good, opt); err != nil {
		t.Fatalf("good script refused: %v\n%s", err, good)
	}
	bad := map[string][2]string{
		"newline in title":      {"item linux-x X", "item linux-x X\nreboot"},
		"terminator in title":   {"item linux-x X", "item linux-x X || reboot"},
		"semicolon in title":    {"item linux-x X", "item linux-x X ; reboot"},
		"expansion in title":    {"item linux-x X", "item linux-x ${reboot}"},
		"comment in title":      {"echo Booting X", "echo Booting #X"},
		"expansion in url":      {"x/vmlinuz", "x/${x}vmlinuz"},
		"command in url":        {"x/vmlinuz ||", "x/vmlinuz || reboot ||"},
		"continuation":          {"boot || goto pxeproxy/failed\n", "boot || goto pxeproxy/failed \\\n"},
		"unknown goto":          {"goto ${pxeproxy-choice}", "goto nowhere"},
		"second label":          {":linux-x\n", ":linux-x\n:linux-x\n"},
		"control character":     {"item linux-x X", "item linux-x X\x1b[2J"},
		"terminator in args":    {"kernel ${pxeproxy-http}/x/vmlinuz", "kernel ${pxeproxy-http}/x/vmlinuz && reboot"},
		"scheme from the tree":  {"${pxeproxy-http}/x/vmlinuz", "${pxeproxy-http}/x:y/vmlinuz"},
		"another http base":     {"set pxeproxy-http http://192.0.2.1:8080", "set pxeproxy-http http://192.0.2.9:8080"},
		"http base set later":   {"boot || goto pxeproxy/failed\n", "boot || goto pxeproxy/failed\nset pxeproxy-http http://192.0.2.1:8080\n"},
		"http base cleared":     {"set pxeproxy-http http://192.0.2.1:8080\n", "set pxeproxy-http http://192.0.2.1:8080\nisset ${pxeproxy-server} || clear pxeproxy-http\n"},
		"item without an entry": {"item linux-x X", "item linux-x X\nitem linux-y Y"},
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			s := strings.Replace(string(good), c[0], c[1], 1)
			if s == string(good) {
				t.Fatalf("%q not in the script", c[0])
			}
			if err := validateScript([]byte(s), opt); err == nil {
				t.Errorf("validator accepted:\n%s", s)
			}
		})
	}
}
