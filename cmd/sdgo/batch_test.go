package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/server"
)

// A batch interrupted midway (its context cancelled) and run again makes
// every line's image exactly once: the lines done before are skipped and
// their files untouched, the job cut off is run again (once), and the job
// log in the queue shows one "done" per line.
func TestBatchResume(t *testing.T) {
	if _, err := sdmini.Path(); err != nil {
		t.Skip("sd-mini is not built in:", err)
	}
	dir := t.TempDir()
	reqs, out, data := filepath.Join(dir, "requests.jsonl"), filepath.Join(dir, "out"), filepath.Join(dir, "queue")
	var lines []string
	for i := range 6 {
		lines = append(lines, fmt.Sprintf(`{"prompt":"a red circle %d","steps":4,"width":32,"height":32,"seed":%d}`, i, i))
	}
	os.WriteFile(reqs, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	args := []string{"--embedded", reqs, "--out", out, "--data-dir", data}

	// First run: cancelled once two lines are done.
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- batch(ctx, args, &stdout, &stderr) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		names, _ := filepath.Glob(filepath.Join(out, "*.json"))
		if len(names) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no two lines done in 60 s:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("the cancelled run: %v\n%s", err, stdout.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled run did not stop within 30 s")
	}
	first := map[string]os.FileInfo{}
	names, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, n := range names {
		st, _ := os.Stat(n)
		first[n] = st
	}
	if len(first) >= 2*len(lines) {
		t.Logf("the first run finished every line before the cancel: the resume is not exercised")
	}

	// Second run: the rest.
	var out2 bytes.Buffer
	if err := batch(context.Background(), args, &out2, &stderr); err != nil {
		t.Fatalf("the second run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(out2.String(), fmt.Sprintf("6/6 done (%d before this run), 0 failed, 0 left", len(first)/2)) {
		t.Errorf("the second run's progress:\n%s", out2.String())
	}
	for n, st := range first {
		if st2, err := os.Stat(n); err != nil || !st2.ModTime().Equal(st.ModTime()) || st2.Size() != st.Size() {
			t.Errorf("%s was written again by the second run", filepath.Base(n))
		}
	}
	q, err := server.NewEmbeddedQueue(data, "", server.JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(context.Background())
	for i := range lines {
		name := filepath.Join(out, fmt.Sprintf("%05d", i+1))
		var r batchResult
		if b, err := os.ReadFile(name + ".json"); err != nil || json.Unmarshal(b, &r) != nil {
			t.Fatalf("line %d: no result (%v)", i+1, err)
		}
		if _, err := os.Stat(name + ".png"); err != nil || r.State != "done" || len(r.Seeds) != 1 || r.Seeds[0] != uint64(i) {
			t.Errorf("line %d: %+v (%v)", i+1, r, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, _, log, err := q.Record(ctx, r.Job)
		cancel()
		if n := strings.Count(strings.Join(log, "\n"), "done by"); err != nil || st != server.StateDone || n != 1 {
			t.Errorf("line %d: job %s %s, made %d times; log %q (%v)", i+1, r.Job, st, n, log, err)
		}
	}
	if all, _ := filepath.Glob(filepath.Join(out, "*.png")); len(all) != len(lines) {
		t.Errorf("%d images for %d lines", len(all), len(lines))
	}
}

// A bad line is reported with its number and JSON field, the good lines
// still run, and the exit status says a line failed.
func TestBatchBadLine(t *testing.T) {
	if _, err := sdmini.Path(); err != nil {
		t.Skip("sd-mini is not built in:", err)
	}
	dir := t.TempDir()
	reqs := filepath.Join(dir, "r.jsonl")
	os.WriteFile(reqs, []byte(`{"prompt":"ok","steps":2,"width":32,"height":32,"seed":1}`+"\n\n"+
		`{"prompt":"bad","steps":"many"}`+"\n"+`{"prompt":"big","steps":2,"width":33}`+"\n"+`not json`+"\n"), 0o644)
	var stdout, stderr bytes.Buffer
	code := run([]string{"batch", "--embedded", reqs, "--out", filepath.Join(dir, "out"), "--data-dir", filepath.Join(dir, "q")}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	for _, want := range []string{"r.jsonl:3: steps: want a JSON whole number", "r.jsonl:4: width: must be a multiple of",
		"r.jsonl:5: malformed JSON", "3 of 4 lines failed", "1/4 done"} {
		if !strings.Contains(stderr.String()+stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s\n%s", want, stdout.String(), stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "00001.png")); err != nil {
		t.Errorf("the good line: %v", err)
	}
	// Usage errors name the flag.
	for _, tc := range []struct{ args, want string }{
		{"r.jsonl", "either --nats URL"},
		{"--embedded r.jsonl", "--out DIR is required"},
		{"--embedded --nats nats://x r.jsonl --out o", "either --nats URL"},
	} {
		stderr.Reset()
		if code := run(append([]string{"batch"}, strings.Fields(tc.args)...), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("batch %s: status %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// With --nats the batch only queues and collects: a worker elsewhere (here
// a server on its own connection) runs the lines, sizes left to its model.
func TestBatchNATS(t *testing.T) {
	if _, err := sdmini.Path(); err != nil {
		t.Skip("sd-mini is not built in:", err)
	}
	dir := t.TempDir()
	ns, err := server.StartNATS(filepath.Join(dir, "nats"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown) // after the worker
	q := queueFlags{url: ns.ClientURL(), ackWait: 5 * time.Second, maxDeliver: 2}
	wq, err := q.open(16)
	if err != nil {
		t.Fatal(err)
	}
	_, path, _ := modelTitle("")
	m, err := pipeline.Load(path, pipeline.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(server.Config{Model: m, ModelTitle: server.BuiltinModel, Queue: wq})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	if err := srv.StartWorkers(1); err != nil {
		t.Fatal(err)
	}
	reqs := filepath.Join(dir, "r.jsonl")
	os.WriteFile(reqs, []byte(`{"prompt":"a red circle","steps":2,"seed":4}`+"\n"+`{"prompt":"a blue square","steps":2,"width":32,"height":32,"seed":-1}`+"\n"), 0o644)
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"batch", "--nats", ns.ClientURL(), reqs, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d:\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for n, side := range []int{m.NativeSize(), 32} {
		f, err := os.Open(filepath.Join(out, fmt.Sprintf("%05d.png", n+1)))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != side || cfg.Height != side {
			t.Errorf("line %d: %dx%d (%v), want %d²", n+1, cfg.Width, cfg.Height, err, side)
		}
	}
	if !strings.Contains(stdout.String(), "2/2 done (0 before this run), 0 failed, 0 left") {
		t.Errorf("progress:\n%s", stdout.String())
	}
}
