package main

import "github.com/pxeproxy/pxeproxy/internal/testlog"

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer = testlog.Buffer
