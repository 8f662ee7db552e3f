//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A real SIGTERM to this process: `sdgo serve` stops and run returns 0.
func TestServeSIGTERM(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() { code <- run([]string{"serve", "--listen", "127.0.0.1:0"}, &stdout, &stderr) }()
	for range 1000 {
		if strings.Contains(stdout.String(), "listening on") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), "listening on") {
		t.Fatalf("serve did not start: %s", stderr.String())
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 || !strings.Contains(stdout.String(), "stopped") {
			t.Errorf("exit %d, stdout %q, stderr %q", c, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SIGTERM did not stop serve")
	}
}
