package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// TestRunFirstErrorStopsTheRest: one loop fails, the others see their
// context end, Run returns the failure by name, and the serving states go
// up and back down for every loop.
func TestRunFirstErrorStopsTheRest(t *testing.T) {
	boom := errors.New("boom")
	var mu sync.Mutex
	states := map[string][]bool{}
	serving := func(name string, up bool) { mu.Lock(); defer mu.Unlock(); states[name] = append(states[name], up) }
	wait := func(ctx context.Context) error { <-ctx.Done(); return nil }
	var g Group
	g.Add("a", wait)
	g.Add("b", func(context.Context) error { return boom })
	g.Add("c", wait)
	err := g.Run(context.Background(), serving)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "b: ") {
		t.Fatalf("Run = %v, want b's error named", err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if s := states[n]; len(s) != 2 || !s[0] || s[1] {
			t.Errorf("%s: serving states %v, want [true false]", n, s)
		}
	}
}

func TestRunCleanStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var g Group
	g.Add("a", func(ctx context.Context) error { <-ctx.Done(); return nil })
	if err := g.Run(ctx, nil); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

type closer struct {
	name  string
	order *[]string
}

func (c closer) Close() error { *c.order = append(*c.order, c.name); return nil }

// TestCloseOrder: what was opened last is closed first, once.
func TestCloseOrder(t *testing.T) {
	var order []string
	var g Group
	g.Own(closer{"first", &order})
	g.Own(closer{"second", &order})
	_ = g.Close()
	_ = g.Close()
	if got := strings.Join(order, " "); got != "second first" {
		t.Fatalf("closed %q, want second first", got)
	}
}

// TestMerge: a merged group's loops run and its sockets close with g's; the
// merged group is left empty.
func TestMerge(t *testing.T) {
	var order []string
	var g, part Group
	g.Own(closer{"g", &order})
	part.Own(closer{"part", &order})
	ran := false
	part.Add("p", func(context.Context) error { ran = true; return nil })
	g.Merge(&part)
	if err := g.Run(context.Background(), nil); err != nil || !ran {
		t.Fatalf("Run = %v, ran %v", err, ran)
	}
	_ = part.Close()
	_ = g.Close()
	if got := strings.Join(order, " "); got != "part g" {
		t.Fatalf("closed %q, want part g", got)
	}
}
