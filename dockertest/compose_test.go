// Package dockertest holds the container test scripts (build.sh, run.sh) and
// this guard: docker-compose.yml doubles as the settings documentation, so
// it must list every PXE_* variable of the Config struct with its default.
package dockertest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"testing"
)

// configVars reads the envconfig and default tags of the Config struct in
// ../config.go. Parsing the source keeps this test outside package main.
func configVars(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../config.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Config" {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			t.Fatal("Config is not a struct")
		}
		for _, field := range st.Fields.List {
			if field.Tag == nil {
				continue
			}
			raw, err := strconv.Unquote(field.Tag.Value)
			if err != nil {
				t.Fatal(err)
			}
			tag := reflect.StructTag(raw)
			if name := tag.Get("envconfig"); name != "" {
				vars[name] = tag.Get("default")
			}
		}
		return false
	})
	if len(vars) == 0 {
		t.Fatal("no envconfig tags found in ../config.go")
	}
	return vars
}

// composeEntry matches "      PXE_X: ${PXE_X:-default}" and captures both
// names and the default.
var composeEntry = regexp.MustCompile(`(?m)^\s+(PXE_[A-Z0-9_]+): \$\{(PXE_[A-Z0-9_]+):-([^}]*)\}$`)

// imageDefaults are set by the Dockerfile's ENV and so differ from the
// binary's own defaults on purpose.
var imageDefaults = map[string]string{"PXE_TFTP_DEFAULTS": "/usr/share/pxeproxy/tftp", "PXE_HTTP_ADDR": ":4011"}

func TestComposeListsEveryVariable(t *testing.T) {
	want := configVars(t)
	src, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range composeEntry.FindAllStringSubmatch(string(src), -1) {
		if m[1] != m[2] {
			t.Errorf("%s interpolates ${%s}", m[1], m[2])
		}
		got[m[1]] = m[3]
	}
	for name, def := range want {
		if d, ok := imageDefaults[name]; ok {
			def = d
		}
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("docker-compose.yml does not list %s (default %q)", name, def)
		case g != def:
			t.Errorf("docker-compose.yml gives %s the default %q, config.go %q", name, g, def)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docker-compose.yml lists %s, which config.go does not know", name)
		}
	}
}
