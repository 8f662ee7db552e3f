//go:build unix

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/server"
)

// Two `sdgo worker` processes (the built binary) on an embedded NATS
// server; one is killed with SIGKILL in the middle of a job: every job ends
// done exactly once, and the killed job's log shows its redelivery. Kept
// small for CI: 8 jobs of 4 steps at 64×64 on sd-mini.
func TestWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sdgo binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sdgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ns, err := server.StartNATS(filepath.Join(dir, "nats"), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	front, err := server.NewJetStreamQueue(nc, server.JetStreamOptions{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close(context.Background())

	var procs []*exec.Cmd
	for i := range 2 {
		cmd := exec.Command(bin, "worker", "--nats", "nats://"+addr, "--ack-wait", "2s", "--threads", "1")
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, fmt.Sprint("cache", i)))
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
	}
	var ids []string
	for i := range 8 {
		j := server.NewJob(context.Background(), pipeline.Options{Prompt: "a red circle", Steps: 4, Width: 64, Height: 64,
			BatchCount: 1, Seed: uint64(i), CFGScale: 3, Sampler: "euler"})
		j.Model = server.BuiltinModel
		if err := front.Submit(j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	// Kill the first worker while it runs a job.
	victim := fmt.Sprintf(":%d", procs[0].Process.Pid)
	var killed string
	for deadline := time.Now().Add(60 * time.Second); killed == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, id := range ids {
			st, _, log, err := front.Record(context.Background(), id)
			if err == nil && st == server.StateRunning && len(log) > 0 && strings.HasSuffix(log[len(log)-1], victim) {
				procs[0].Process.Signal(syscall.SIGKILL)
				killed = id
				break
			}
		}
	}
	if killed == "" {
		t.Fatal("the first worker took no job within 60 s")
	}
	procs[0].Wait()
	deadline := time.Now().Add(120 * time.Second)
	for _, id := range ids {
		for {
			st, _, log, err := front.Record(context.Background(), id)
			if err == nil && st == server.StateDone {
				if n := strings.Count(strings.Join(log, "\n"), "done by"); n != 1 {
					t.Errorf("job %s done %d times: %q", id, n, log)
				}
				if id == killed && !strings.Contains(strings.Join(log, "\n"), "delivery 2") {
					t.Errorf("the killed job's log shows no redelivery: %q", log)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s: %s %v %q", id, st, err, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
		j, ok := front.Job(id)
		if !ok {
			t.Fatalf("job %s not found", id)
		}
		<-j.Done()
		if st := j.Status(); len(st.Images) != 1 || len(st.Images[0].PNG) < 100 {
			t.Errorf("job %s: %d images", id, len(st.Images))
		}
	}
	t.Logf("killed worker %s during job %s", victim, killed)
}
