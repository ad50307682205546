// Command pinserve serves a directory read-only with pin/tftp/v3's server,
// the Go baseline in the bench/tftp benchmark.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pin/tftp/v3"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:69", "UDP listen address")
	root := flag.String("root", ".", "directory to serve")
	flag.Parse()
	read := func(name string, rf io.ReaderFrom) error {
		f, err := os.Open(filepath.Join(*root, filepath.Clean("/"+name)))
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			rf.(tftp.OutgoingTransfer).SetSize(fi.Size())
		}
		_, err = rf.ReadFrom(f)
		return err
	}
	s := tftp.NewServer(read, nil)
	s.SetTimeout(time.Second)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		s.Shutdown()
	}()
	if err := s.ListenAndServe(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "pinserve:", err)
		os.Exit(1)
	}
}
