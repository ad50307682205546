package instance

// The clients subcommand prints the boot journal's table from a running
// pxeproxy, for an SSH session or `docker compose exec`: the image has no
// curl, and JSON is no table.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pxeproxy/pxeproxy/journal"
)

// clientsTimeout bounds the request to the running instance.
const clientsTimeout = 5 * time.Second

// ErrNoHTTP is why the table cannot be fetched without PXE_HTTP_ADDR.
var ErrNoHTTP = errors.New("PXE_HTTP_ADDR is empty: the boot journal is served on the HTTP listener; " +
	"set PXE_HTTP_ADDR (e.g. :8080) for pxeproxy and for this command")

// Clients fetches /api/v1/clients from the instance's HTTP listener (on
// loopback, as Healthcheck does) and prints it as a table, the most
// recently active client first.
func Clients(cfg Config, stdout io.Writer) error {
	if cfg.HTTPAddr == "" {
		return ErrNoHTTP
	}
	target, err := loopbackTarget(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("PXE_HTTP_ADDR=%q: %w", cfg.HTTPAddr, err)
	}
	url := "http://" + target + "/api/v1/clients"
	resp, err := (&http.Client{Timeout: clientsTimeout}).Get(url)
	if err != nil {
		return fmt.Errorf("clients: is pxeproxy running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("clients: %s answered %s", url, resp.Status)
	}
	l, err := journal.DecodeClients(resp.Body)
	if err != nil {
		return fmt.Errorf("clients: %s: %w", url, err)
	}
	return journal.WriteTable(stdout, l)
}
