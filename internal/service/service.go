// Package service runs a program's long-lived loops under one context: the
// first loop to fail stops the others, and Run returns that first error once
// every loop has ended, so no goroutine outlives it.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Group is the loops of a program and what they own. The zero value is
// empty and ready to use.
type Group struct {
	names   []string
	runs    []func(context.Context) error
	closers []io.Closer
}

// Add registers a loop that runs until its context ends. A loop that
// returns nil when the context ends has stopped cleanly.
func (g *Group) Add(name string, run func(context.Context) error) {
	g.names = append(g.names, name)
	g.runs = append(g.runs, run)
}

// Own registers c (an open socket, a folder) to be closed by Close, so an
// opener can hand over what it opened even when a later start step fails.
func (g *Group) Own(c io.Closer) { g.closers = append(g.closers, c) }

// Close closes what the group owns, the last opened first.
func (g *Group) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i].Close())
	}
	g.closers = nil
	return errors.Join(errs...)
}

// Run runs every loop until ctx ends or one fails; a failure cancels the
// rest and is returned, prefixed with the loop's name. serving, when not
// nil, is told a loop serves from its start (its socket is already open)
// until it returns.
func (g *Group) Run(ctx context.Context, serving func(name string, up bool)) error {
	if serving == nil {
		serving = func(string, bool) {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, len(g.runs))
	for i, run := range g.runs {
		name := g.names[i]
		serving(name, true)
		go func() {
			err := run(ctx)
			serving(name, false)
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
				cancel(err)
			}
			done <- err
		}()
	}
	var first error
	for range g.runs {
		if err := <-done; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Merge moves o's loops and what it owns into g, for an opener that builds
// its part in a group of its own and gives it up only when all of it opened.
func (g *Group) Merge(o *Group) {
	g.names = append(g.names, o.names...)
	g.runs = append(g.runs, o.runs...)
	g.closers = append(g.closers, o.closers...)
	*o = Group{}
}
