//go:build linux

package rawtcp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// A wrapped pair carries a stream larger than the socket buffers both ways,
// honours read deadlines, reports EOF, and a Close ends a waiting Read.
func TestWrap_StreamDeadlineEOFClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(acc)
			return
		}
		acc <- c
	}()
	rawC, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rawS, ok := <-acc
	if !ok {
		t.Fatal("accept failed")
	}
	c, s := Wrap(rawC), Wrap(rawS)
	if _, ok := c.(*conn); !ok {
		t.Fatal("Wrap did not wrap a *net.TCPConn")
	}
	defer c.Close()
	defer s.Close()

	want := bytes.Repeat([]byte("haven-"), 2<<20) // 12 MiB: many EAGAINs
	go func() {
		if _, err := c.Write(want); err != nil {
			t.Errorf("write: %v", err)
		}
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("stream corrupted")
	}

	_ = s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := s.Read(got[:1]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline = %v; want a deadline error", err)
	}
	var ne net.Error
	_ = s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := s.Read(got[:1]); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("deadline error %v is not a net.Error with Timeout()", err)
	}
	_ = s.SetReadDeadline(time.Time{})

	// Close ends a Read waiting on the same conn; the peer then reads EOF.
	done := make(chan error, 1)
	go func() { _, err := c.Read(got[:1]); done <- err }()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed conn = %v; want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a waiting Read")
	}
	if _, err := s.Read(got[:1]); err != io.EOF {
		t.Fatalf("read after the peer closed = %v; want io.EOF", err)
	}
}

func TestWrap_NotTCPUnchanged(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap changed a non-TCP conn")
	}
}
