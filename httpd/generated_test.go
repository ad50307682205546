package httpd

import (
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"testing"

	"github.com/pxeproxy/pxeproxy/bootfs"
)

// TestGeneratedFiles: a file the boot folder generates (the boot menu) is
// served like a folder's, ranges and HEAD included, and a generator that
// fails is a server error, not a missing file.
func TestGeneratedFiles(t *testing.T) {
	dir := t.TempDir()
	menu := "#!ipxe\necho generated\n"
	r, err := bootfs.New(bootfs.Config{Dirs: []string{dir}, Generated: map[string]bootfs.Generator{
		"menu.ipxe":   func(fs.FS) ([]byte, error) { return []byte(menu), nil },
		"broken.ipxe": func(fs.FS) ([]byte, error) { return nil, errors.New("scan failed") },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	addr := start(t, Config{Root: r}, nil)
	n := strconv.Itoa(len(menu))
	cases := map[string]struct {
		method, target string
		hdr            map[string]string
		status         int
		body           string
	}{
		"get":        {target: "/menu.ipxe", status: 200, body: menu},
		"case":       {target: "/MENU.IPXE", status: 200, body: menu},
		"range":      {target: "/menu.ipxe", hdr: map[string]string{"Range": "bytes=7-10"}, status: 206, body: "echo"},
		"head":       {method: "HEAD", target: "/menu.ipxe", status: 200},
		"fails":      {target: "/broken.ipxe", status: 500, body: "read error\n"},
		"other name": {target: "/boot.ipxe", status: 404, body: "file not found\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := c.method
			if m == "" {
				m = http.MethodGet
			}
			got := raw(t, addr, m, c.target, c.hdr)
			if got.status != c.status || string(got.body) != c.body {
				t.Fatalf("%d %q, want %d %q", got.status, got.body, c.status, c.body)
			}
			if name == "get" || name == "head" {
				if cl := got.header.Get("Content-Length"); cl != n {
					t.Fatalf("Content-Length %q, want %s", cl, n)
				}
			}
		})
	}
}
