package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pxeproxy/pxeproxy/metrics"
	"github.com/pxeproxy/pxeproxy/tftpd"
)

func TestTFTPMetrics(t *testing.T) {
	done := metrics.TFTPTransfer{Bytes: 9, Retransmits: 2, Dur: time.Second, BlockSize: 1468, WindowSize: 4}
	for name, c := range map[string]struct {
		st   tftpd.Stats
		want metrics.TFTPTransfer
	}{
		"ok":        {tftpd.Stats{Bytes: 9, Retransmits: 2, Dur: time.Second, BlockSize: 1468, WindowSize: 4}, done},
		"probe":     {tftpd.Stats{Probe: true, BlockSize: 1468}, metrics.TFTPTransfer{Probe: true, BlockSize: 1468}},
		"not found": {tftpd.Stats{Err: fmt.Errorf("open: %w", tftpd.ErrNotFound)}, metrics.TFTPTransfer{Failure: metrics.FailNotFound}},
		"access":    {tftpd.Stats{Err: fmt.Errorf("write request refused: %w", tftpd.ErrAccess)}, metrics.TFTPTransfer{Failure: metrics.FailAccess}},
		"busy":      {tftpd.Stats{Err: tftpd.ErrBusy}, metrics.TFTPTransfer{Failure: metrics.FailBusy}},
		"other":     {tftpd.Stats{Bytes: 5, Err: errors.New("timed out")}, metrics.TFTPTransfer{Bytes: 5, Failure: metrics.FailOther}},
	} {
		if got := tftpMetrics(c.st); got != c.want {
			t.Errorf("%s: tftpMetrics = %+v, want %+v", name, got, c.want)
		}
	}
}
