// echo_server: the Go reference echo server for bench/echo.sh: one
// goroutine per connection reading into a per-connection buffer and
// writing back what it read (the shape of goring's examples/echo-server).
//
// Same interface as examples/echo-server:
//   echo_server --addr HOST:PORT --procs N [--bufsize B]
// --procs 0 keeps GOMAXPROCS's default. Prints "listening on HOST:PORT"
// once it accepts; on SIGINT/SIGTERM it closes the listener and exits 0.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
)

var conns, msgs atomic.Int64

func serve(c net.Conn, bufsize int) {
	defer c.Close()
	conns.Add(1)
	buf := make([]byte, bufsize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			msgs.Add(1)
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "listen address HOST:PORT")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: default)")
	bufsize := flag.Int("bufsize", 16384, "per-connection buffer size")
	flag.Parse()
	if flag.NArg() != 0 || *bufsize <= 0 || *procs < 0 {
		fmt.Fprintln(os.Stderr, "usage: echo_server --addr HOST:PORT --procs N [--bufsize B]")
		os.Exit(2)
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_server:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		ln.Close()
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		go serve(c, *bufsize)
	}
	fmt.Printf("connections=%d reads=%d gomaxprocs=%d\n", conns.Load(), msgs.Load(), runtime.GOMAXPROCS(0))
}
