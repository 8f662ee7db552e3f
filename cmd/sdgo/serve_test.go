package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/pipeline"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs serve with args until the test ends and returns its base URL.
func startServe(t *testing.T, args ...string) (url string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, append(args, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()), &stdout, &stderr)
	}()
	addr := regexp.MustCompile(`listening on (http://\S+)`)
	for range 1000 {
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if url == "" {
		cancel()
		t.Fatal("serve did not start")
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err == nil && !strings.Contains(stdout.String(), "stopped") {
				t.Errorf("stdout %q", stdout.String())
			}
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return url, stop
}

// An A1111 txt2img with seed 42, euler, 4 steps at 32×32 on the tiny
// reference model gives the same image as the CLI, and the server stops
// cleanly when its context ends.
func TestServeMatchesCLI(t *testing.T) {
	td := testdata.Dir(t, "pipeline")
	model, config := filepath.Join(td, "sd_tiny.safetensors"), filepath.Join(td, "diffusers")
	outDir := t.TempDir()
	url, stop := startServe(t, "-m", model, "--config", config, "--output-dir", outDir)

	const prompt = "a photograph of an astronaut riding a horse"
	body := `{"prompt":"` + prompt + `","seed":42,"sampler_name":"Euler","steps":4,"width":32,"height":32,"cfg_scale":7.5}`
	res, err := http.Post(url+"/sdapi/v1/txt2img", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Images []string `json:"images"`
	}
	json.NewDecoder(res.Body).Decode(&reply)
	res.Body.Close()
	if res.StatusCode != 200 || len(reply.Images) != 1 {
		t.Fatalf("status %d, %d images", res.StatusCode, len(reply.Images))
	}
	served, _ := base64.StdEncoding.DecodeString(reply.Images[0])

	cliOut := filepath.Join(t.TempDir(), "cli.png")
	if code, _, stderr := sdgo("-m", model, "--config", config, "-p", prompt, "-s", "42", "--sampler", "euler", "--steps", "4",
		"-W", "32", "-H", "32", "--cfg-scale", "7.5", "-o", cliOut, "-q"); code != 0 {
		t.Fatalf("cli: exit %d: %s", code, stderr)
	}
	cli, _ := os.ReadFile(cliOut)
	a, err1 := png.Decode(bytes.NewReader(served))
	b, err2 := png.Decode(bytes.NewReader(cli))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if a.Bounds() != b.Bounds() {
		t.Fatalf("sizes %v and %v", a.Bounds(), b.Bounds())
	}
	for y := range a.Bounds().Dy() {
		for x := range a.Bounds().Dx() {
			if a.At(x, y) != b.At(x, y) {
				t.Fatalf("pixel (%d,%d): server %v, cli %v", x, y, a.At(x, y), b.At(x, y))
			}
		}
	}
	ps, _ := pipeline.PNGParameters(served)
	pc, _ := pipeline.PNGParameters(cli)
	if ps != pc {
		t.Errorf("parameters differ:\nserver %q\ncli    %q", ps, pc)
	}
	if saved, _ := filepath.Glob(filepath.Join(outDir, "*.png")); len(saved) != 1 || filepath.Base(saved[0]) != "00001-42.png" {
		t.Errorf("--output-dir holds %v", saved)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

// SIGTERM (the context's end) while a job runs: the job finishes within
// --shutdown-timeout or is cancelled, and serve returns nil.
func TestServeShutdown(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	url, stop := startServe(t, "--shutdown-timeout", "200ms")
	done := make(chan int)
	go func() {
		res, err := http.Post(url+"/sdapi/v1/txt2img", "application/json", strings.NewReader(`{"prompt":"x","steps":150,"n_iter":8}`))
		if err != nil {
			done <- 0
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	for range 500 {
		res, err := http.Get(url + "/sdapi/v1/progress")
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			State struct {
				Step int `json:"sampling_step"`
			} `json:"state"`
		}
		json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if p.State.Step > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if status := <-done; status != 200 && status != 503 {
		t.Errorf("the running request got %d", status)
	}
	// The job (150 steps × 8 images, half a minute or more) was cancelled:
	// serve returns within the timeout and the queue's grace for the
	// cancelled job's outcome (2 s), with margin for a loaded machine.
	took := time.Since(start)
	t.Logf("stopped in %v", took)
	if took > 200*time.Millisecond+5*time.Second {
		t.Errorf("serve took %v to stop with --shutdown-timeout 200ms", took)
	}
}

func TestServeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "0.0.0.0:0"}, "--api-key"},
		{[]string{"serve", "--listen", "7860"}, "--listen"},
		{[]string{"serve", "--parallel", "0"}, "--parallel"},
		{[]string{"serve", "--queue-size", "0"}, "--queue-size"},
		{[]string{"serve", "--max-memory", "lots"}, "--max-memory"},
		{[]string{"serve", "--max-steps", "0"}, "--max-steps"},
		{[]string{"serve", "--models-dir", "/nonexistent"}, "--models-dir"},
		{[]string{"serve", "--output-dir", "/etc/passwd"}, "--output-dir: /etc/passwd is not a folder"},
		{[]string{"serve", "extra"}, "unexpected argument"},
	} {
		code, _, stderr := sdgo(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 naming %s", tc.args, code, stderr, tc.want)
		}
	}
	if code, out, _ := sdgo("serve", "--help"); code != 0 || !strings.Contains(out, "--queue-size") {
		t.Errorf("--help: %d %q", code, out)
	}
	if n, err := parseBytes("1.5G"); err != nil || n != 3<<29 {
		t.Errorf("parseBytes: %d %v", n, err)
	}
}
