package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// 8 clients × 3 requests at once against a queue of 4 on sd-mini: every
// request is answered (images or 503), no job is lost or run twice, and the
// process's memory stays bounded.
func TestLoad(t *testing.T) {
	s, ts := newTest(t, Config{QueueSize: 4, Parallel: 1})
	const clients, each = 8, 3
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type answer struct {
		seed   int
		status int
		seeds  []any
	}
	answers := make(chan answer, clients*each)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				seed := 1000 + c*each + i
				body := fmt.Sprintf(`{"prompt":"a red circle on the left","steps":4,"seed":%d}`, seed)
				req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/sdapi/v1/txt2img", strings.NewReader(body))
				res, err := ts.Client().Do(req)
				if err != nil {
					t.Errorf("client %d request %d: %v", c, i, err)
					answers <- answer{seed: seed}
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				a := answer{seed: seed, status: res.StatusCode}
				if res.StatusCode == 200 {
					var r a1111Reply
					var info map[string]any
					if json.Unmarshal(b, &r) != nil || json.Unmarshal([]byte(r.Info), &info) != nil || len(r.Images) != 1 {
						t.Errorf("seed %d: bad reply %.200s", seed, b)
					}
					a.seeds, _ = info["all_seeds"].([]any)
				}
				answers <- a
			}
		}()
	}
	wg.Wait()
	close(answers)
	ok, busy := 0, 0
	for a := range answers {
		switch a.status {
		case 200:
			ok++
			if len(a.seeds) != 1 || a.seeds[0] != float64(a.seed) {
				t.Errorf("request with seed %d answered with seeds %v", a.seed, a.seeds)
			}
		case 503:
			busy++
		default:
			t.Errorf("seed %d: status %d", a.seed, a.status)
		}
	}
	t.Logf("%d made, %d turned away (503)", ok, busy)
	if ok+busy != clients*each || ok < 5 {
		t.Errorf("%d answered with images, %d with 503, of %d", ok, busy, clients*each)
	}
	// Every accepted job ran exactly once: the counters agree with the replies.
	res := call(t, ts, "GET", "/metrics", "", nil)
	b, _ := io.ReadAll(res.Body)
	for _, want := range []string{fmt.Sprintf(`sdgo_jobs_total{outcome="done"} %d`, ok), fmt.Sprintf(`sdgo_jobs_total{outcome="rejected"} %d`, busy),
		fmt.Sprintf("sdgo_images_total %d", ok), fmt.Sprintf("sdgo_step_seconds_count %d", 4*ok)} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	waitFor(t, func() bool { st := s.queue.Stats(); return st.Running == 0 && st.Waiting == 0 })
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 512<<20 {
		t.Errorf("heap %d MiB after the load", ms.HeapAlloc>>20)
	}
}

// With --parallel 2 two jobs share the model at once: each image equals the
// one made alone.
func TestParallelSameImages(t *testing.T) {
	_, ts := newTest(t, Config{Parallel: 2})
	body := func(seed int) string {
		return fmt.Sprintf(`{"prompt":"a red circle on the left","steps":6,"seed":%d}`, seed)
	}
	alone := map[int]string{}
	for seed := range 4 {
		var r a1111Reply
		call(t, ts, "POST", "/sdapi/v1/txt2img", body(seed), &r)
		alone[seed] = r.Images[0]
	}
	var wg sync.WaitGroup
	for seed := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r a1111Reply
			call(t, ts, "POST", "/sdapi/v1/txt2img", body(seed), &r)
			if len(r.Images) != 1 || r.Images[0] != alone[seed] {
				t.Errorf("seed %d: the image made beside another differs from the one made alone", seed)
			}
		}()
	}
	wg.Wait()
}
