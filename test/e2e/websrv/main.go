// Command websrv is the end-to-end tests' web server, run by haven's `exec`
// agent inside a node's network namespace: it listens on 0.0.0.0:$PORT (and
// [::]), answers every request with the node's name ($HAVEN_NODE), stamps
// "start NANOS NODE PID" into $STAMPS once it listens and "stop NANOS NODE
// PID" when SIGTERM or SIGINT ends it, and exits by itself when the process
// $WATCH_PID (the test or benchmark) is gone, so a crashed run leaves no
// server behind.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func stamp(path, what, node string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "websrv: stamp:", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %d %s %d\n", what, time.Now().UnixNano(), node, os.Getpid())
}

func main() {
	node := os.Getenv("HAVEN_NODE")
	port := os.Getenv("PORT")
	stamps := os.Getenv("STAMPS")
	if port == "" {
		port = "8080"
	}
	// "tcp" on ":PORT" is a dual-stack socket: IPv4 and IPv6 VIPs alike.
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "websrv:", err)
		os.Exit(1)
	}
	stamp(stamps, "start", node)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		stamp(stamps, "stop", node)
		os.Exit(0)
	}()
	if w, err := strconv.Atoi(os.Getenv("WATCH_PID")); err == nil && w > 1 {
		go func() {
			for {
				time.Sleep(200 * time.Millisecond)
				if err := syscall.Kill(w, 0); err == syscall.ESRCH {
					os.Exit(0)
				}
			}
		}()
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, node)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	err = srv.Serve(l)
	fmt.Fprintln(os.Stderr, "websrv:", err)
	os.Exit(1)
}
