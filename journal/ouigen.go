//go:build ignore

// ouigen writes oui.txt.gz, the vendor table embedded in package journal,
// from the IEEE MA-L registry as Debian's ieee-data package ships it:
//
//	go run ouigen.go [-in /usr/share/ieee-data/oui.txt] [-out oui.txt.gz]
//
// Each line of the output is six hex digits, a tab and a short vendor name;
// lines are sorted. Names are shortened (legal suffixes dropped, cut at a
// word within 24 bytes) because the table shows them in a narrow column.
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

func main() {
	in := flag.String("in", "/usr/share/ieee-data/oui.txt", "IEEE oui.txt")
	out := flag.String("out", "oui.txt.gz", "output")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ouigen:", err)
		os.Exit(1)
	}
}

var line = regexp.MustCompile(`^([0-9A-F]{6})\s+\(base 16\)\s+(.*\S)\s*$`)

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	defer f.Close()
	seen := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if n := short(m[2]); n != "" {
			seen[m[1]] = n
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read registry: %w", err)
	}
	if len(seen) < 1000 {
		return fmt.Errorf("read registry: only %d entries", len(seen))
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	zw, err := gzip.NewWriterLevel(o, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	w := bufio.NewWriter(zw)
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\n", k, seen[k])
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return o.Close()
}

// legal are legal forms dropped from the end of a name; filler are words
// dropped from the end while at least two words remain.
var (
	legal = []string{"inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc",
		"gmbh", "ag", "sa", "s.a", "s.a.s", "sas", "spa", "s.p.a", "bv", "b.v", "nv", "n.v", "ab", "as", "a/s", "oy",
		"kg", "pty", "plc", "srl", "s.r.l", "sl", "s.l", "kk", "k.k", "pte", "pvt", "private", "l.p", "lp", "&",
		"co.ltd", "co.,ltd", "the", "of", "and"}
	filler = []string{"technology", "technologies", "tech", "electronics", "international", "group", "holdings",
		"industrial", "industries", "manufacturing"}
)

func short(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	for {
		trimmed := strings.TrimRight(name, " ,.-")
		i := strings.LastIndexAny(trimmed, " ,")
		if i < 0 {
			name = trimmed
			break
		}
		last := strings.ToLower(strings.Trim(trimmed[i+1:], ".,()"))
		words := len(strings.Fields(trimmed[:i]))
		if !slices.Contains(legal, last) && (!slices.Contains(filler, last) || words < 2) {
			name = trimmed
			break
		}
		name = trimmed[:i]
	}
	if len(name) > 24 {
		cut := strings.LastIndexByte(name[:25], ' ')
		if cut < 8 {
			cut = 24
		}
		name = strings.TrimRight(name[:cut], " ,.-&")
	}
	return name
}
