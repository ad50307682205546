package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// iPXE splits a script line on white space, ends a command at a token that is
// exactly "||", "&&" or ";", starts a comment at a token beginning with '#',
// expands "${...}" inside every token (repeatedly) and joins a line that ends
// with '\' to the next one (iPXE src/core/exec.c system(), command_terminator;
// src/image/script.c process_script). There is no quoting. Everything below
// keeps text that came from the boot folder out of those roles.

// Limits on what a boot folder can put into the menu.
const (
	maxTitle = 48   // menu item text, so that a line with its size fits 80 columns
	maxID    = 40   // stable id (iPXE label, PXE_MENU_DEFAULT)
	maxPath  = 1024 // bytes of a path below the boot folder
	maxArgs  = 1024 // bytes of kernel arguments (x86 Linux takes 2048)
	maxSmall = 4096 // bytes read from a title or arguments file
)

// ErrUnsafe is wrapped by errors for text that cannot be put into an iPXE
// script without changing what the script does.
var ErrUnsafe = errors.New("not expressible safely in an iPXE script")

// titleChars are the characters a title keeps besides ASCII letters, digits
// and single spaces; everything else becomes '_'.
const titleChars = "-_.,:()[]+=@/!?~"

// safeTitle reduces s to a one-line title of at most maxTitle characters
// that iPXE prints as it is: ASCII letters, digits, titleChars and single
// spaces. It never contains '$', '{', '#', '|', '&', ';', '\', quotes or
// control characters, so no token of it can end a command, start a comment
// or expand a setting.
func safeTitle(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
			space = true
			continue
		case r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.IndexByte(titleChars, byte(r)) >= 0):
		default:
			r = '_'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	t := b.String()
	if len(t) > maxTitle {
		t = strings.TrimRight(t[:maxTitle-3], " ") + "..."
	}
	return t
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// idWord lowercases s and turns every run of characters other than a-z and
// 0-9 into one '-', without a leading or trailing '-'.
func idWord(s string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteByte(c)
			continue
		}
		dash = true
	}
	return b.String()
}

// shortHash is 8 hex digits of SHA-256 of s: a stable tie-breaker for ids.
func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}

// makeID derives the stable id of a found entry from its kind and its path
// below the boot folder: "<kind>-<path as id words>", with a repeated kind
// prefix dropped ("linux/debian" gives "linux-debian", not
// "linux-linux-debian"). An id that would be empty or too long ends with a
// hash of the path instead.
func makeID(k Kind, p string) string {
	raw := idWord(p)
	w := strings.TrimPrefix(raw, string(k)+"-")
	if w == string(k) {
		w = ""
	}
	id := string(k)
	if w != "" {
		id += "-" + w
	}
	if len(id) > maxID || (raw == "" && p != "" && p != ".") {
		id = strings.TrimRight(id[:min(len(id), maxID-9)], "-") + "-" + shortHash(string(k)+"/"+p)
	}
	return id
}

// validID reports whether id can be an iPXE label and a menu choice: 1 to
// maxID characters of a-z, 0-9 and '-', starting with a letter.
func validID(id string) bool {
	if id == "" || len(id) > maxID || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkPath reports whether p, a slash path below the boot folder, can be
// served: fs.ValidPath, at most maxPath bytes, and no '\' (pxeproxy's TFTP
// and HTTP servers read '\' as a separator, docs/pxe-notes.md §7).
func checkPath(p string) error {
	switch {
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q: name not in UTF-8: %w", p, ErrUnsafe)
	case !fs.ValidPath(p) || p == ".":
		return fmt.Errorf("path %q: not a path below the boot folder: %w", p, ErrUnsafe)
	case len(p) > maxPath:
		return fmt.Errorf("path of %d bytes, more than %d: %w", len(p), maxPath, ErrUnsafe)
	case strings.IndexByte(p, '\\') >= 0:
		return fmt.Errorf("path %q: backslash in a name: %w", p, ErrUnsafe)
	}
	return nil
}

// encodePath percent-encodes every byte of p except unreserved URI
// characters (RFC 3986 2.3) and '/'. The result holds no white space, '$',
// '{', '#', '?' or ':' (which iPXE could read as a URI scheme); iPXE decodes
// it again before it asks the server (src/core/uri.c).
func encodePath(p string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// checkArgs turns the content of a kernel arguments file into one line of
// arguments: the first line, white space collapsed. It refuses what would
// change the script rather than the kernel's command line: control or
// non-ASCII characters, '\', and tokens that end a command ("||", "&&",
// ";") or start a comment ('#'). "${...}" is kept on purpose: iPXE expands
// it, e.g. BOOTIF=01-${netX/mac:hexhyp}; an expansion stays inside its
// token.
func checkArgs(s string) (string, error) {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, "\r")
	fields := strings.Fields(s)
	for _, f := range fields {
		for i := 0; i < len(f); i++ {
			if c := f[i]; c < 0x20 || c >= 0x7f || c == '\\' {
				return "", fmt.Errorf("kernel arguments: byte %#x: %w", c, ErrUnsafe)
			}
		}
		if f == "||" || f == "&&" || f == ";" || f[0] == '#' {
			return "", fmt.Errorf("kernel arguments: token %q: %w", f, ErrUnsafe)
		}
	}
	out := strings.Join(fields, " ")
	if len(out) > maxArgs {
		return "", fmt.Errorf("kernel arguments of %d bytes, more than %d: %w", len(out), maxArgs, ErrUnsafe)
	}
	return out, nil
}

// checkServer accepts an IPv4 address for PXE_WDS_SERVER: iPXE stores the
// next-server setting in the 4-byte siaddr field, so a host name cannot be
// handed on to the Windows boot program.
func checkServer(s string) error {
	if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
		return fmt.Errorf("server %q: expected an IPv4 address: %w", s, ErrUnsafe)
	}
	return nil
}

// exprChars are the characters allowed in the caller's URL bases and server
// expressions: no white space, quotes, '#', '|', '&', ';' or '\', but "${"
// so that a base can name an iPXE setting such as ServerExpr.
const exprChars = "-._~:/[]@%${}+,="

// checkExpr reports whether s can be written into the script as (part of)
// one token.
func checkExpr(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && strings.IndexByte(exprChars, c) < 0 {
			return false
		}
	}
	return true
}
