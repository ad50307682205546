// Command pxeproxy is a ProxyDHCP-only PXE boot server: it answers PXE
// firmware on UDP 67 and 4011 with boot instructions, never leases an
// address, and serves boot files from a bundled read-only TFTP server.
// It is configured entirely by PXE_* environment variables (see --help).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/instance"
	"github.com/pxeproxy/pxeproxy/internal/logfmt"
	"github.com/pxeproxy/pxeproxy/probe"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "pxeproxy:", err)
		os.Exit(1)
	}
}

// exitCode lets a subcommand choose the process exit code.
type exitCode int

func (e exitCode) Error() string { return "exit " + strconv.Itoa(int(e)) }

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "help":
			fmt.Fprint(stdout, usage())
			return nil
		case "healthcheck":
			if len(args) > 1 {
				fmt.Fprintln(stdout, "usage: pxeproxy healthcheck (configured by the PXE_* environment variables)")
				return exitCode(2)
			}
			cfg, err := loadConfig()
			if err != nil {
				fmt.Fprintf(stdout, "unhealthy: %v\n", err)
				return exitCode(1)
			}
			if c := instance.Healthcheck(cfg.instance(), stdout); c != 0 {
				return exitCode(c)
			}
			return nil
		case "clients":
			if len(args) > 1 {
				return errors.New("usage: pxeproxy clients (configured by the PXE_* environment variables)")
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			return instance.Clients(cfg.instance(), stdout)
		case "probe":
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if c := probe.Command(ctx, args[1:], stdout, stderr); c != 0 {
				return exitCode(c)
			}
			return nil
		case "env-markdown": // used to regenerate the README table
			fmt.Fprint(stdout, markdownEnv())
			return nil
		default:
			return fmt.Errorf("unknown argument %q (pxeproxy is configured by PXE_* environment variables; see pxeproxy --help)", args[0])
		}
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	lw := logfmt.NewWriter(stderr, logfmt.WriterConfig{JSON: cfg.LogFormat == "json"})
	// A blocked log output (full disk, stalled pipe) must not hold the exit.
	defer lw.FlushTimeout(time.Second)
	log := logfmt.NewLogger(lw, slog.Level(cfg.LogLevel), cfg.LogFormat == "json")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ignoreHangup(ctx, log)
	return serve(ctx, cfg, log, lw.Dropped)
}

// ignoreHangup keeps SIGHUP (a closed terminal, a habit of `kill -HUP` to
// reload) from killing the process: settings are read once at start, so it
// says so in the log and goes on serving.
func ignoreHangup(ctx context.Context, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Warn("SIGHUP ignored: settings are read at start only; restart pxeproxy to apply changes", "svc", "main")
			}
		}
	}()
}

// instance is where the running instance listens, for its subcommands.
func (c *Config) instance() instance.Config {
	return instance.Config{HTTPAddr: c.HTTPAddr, TFTP: bool(c.TFTP), TFTPAddr: c.TFTPAddr, IPXEScript: c.IPXEScript}
}
