package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
)

// benchSteps is the sampler steps of the benchmark requests (sd-mini, 64×64).
const benchSteps = 20

// BenchmarkDirect is one sd-mini image by a direct library call: the
// baseline for the server's overhead.
func BenchmarkDirect(b *testing.B) {
	m := loadMini(b)
	defer m.Close()
	opts := pipeline.Options{Prompt: "a red circle on the left", Steps: benchSteps, CFGScale: sdmini.DefaultCFGScale, Seed: 1}
	for b.Loop() {
		if _, err := m.Generate(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTxt2Img is the same image through POST /sdapi/v1/txt2img on
// loopback, one request at a time: the difference from BenchmarkDirect is
// the server's overhead per request (JSON, queue, PNG, base64, HTTP).
func BenchmarkTxt2Img(b *testing.B) {
	_, ts := newTest(b, Config{})
	body := fmt.Sprintf(`{"prompt":"a red circle on the left","steps":%d,"seed":1}`, benchSteps)
	for b.Loop() {
		post(b, ts, body)
	}
}

// post sends a txt2img request and reads the whole reply.
func post(b *testing.B, ts *httptest.Server, body string) {
	res, err := ts.Client().Post(ts.URL+"/sdapi/v1/txt2img", "application/json", strings.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Error(res.Status)
	}
}

// BenchmarkThroughput keeps 4 clients busy against 1 and 2 workers and
// reports images per minute.
func BenchmarkThroughput(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			_, ts := newTest(b, Config{Parallel: workers, QueueSize: 16})
			body := fmt.Sprintf(`{"prompt":"a red circle on the left","steps":%d,"seed":1}`, benchSteps)
			const clients, each = 4, 6
			b.ResetTimer()
			start := time.Now()
			images := 0
			for b.Loop() {
				var wg sync.WaitGroup
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range each {
							post(b, ts, body)
						}
					}()
				}
				wg.Wait()
				images += clients * each
			}
			b.ReportMetric(float64(images)/time.Since(start).Minutes(), "images/min")
		})
	}
}

// BenchmarkOverhead is the server's own cost per request, with the
// generation taken out: POST /sdapi/v1/txt2img on loopback against a queue
// whose jobs finish at once with a 64×64 PNG.
func BenchmarkOverhead(b *testing.B) {
	q, _ := fakeQueue(1, 16, nil)
	_, ts := newTest(b, Config{Queue: q})
	body := `{"prompt":"a red circle on the left","steps":20,"seed":1}`
	for b.Loop() {
		post(b, ts, body)
	}
}

// BenchmarkServerVsDirect alternates one image by a direct library call and
// one through POST /sdapi/v1/txt2img (sd-mini, the same settings), so that
// both see the same machine load; it reports the milliseconds of each.
func BenchmarkServerVsDirect(b *testing.B) {
	s, ts := newTest(b, Config{})
	lm, release := s.models.acquire()
	defer release()
	opts := pipeline.Options{Prompt: "a red circle on the left", Steps: benchSteps, CFGScale: sdmini.DefaultCFGScale, Seed: 1}
	body := fmt.Sprintf(`{"prompt":"a red circle on the left","steps":%d,"seed":1}`, benchSteps)
	var direct, served time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if _, err := lm.model.Generate(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		post(b, ts, body)
		served += time.Since(t1)
		direct += t1.Sub(t0)
		n++
	}
	b.ReportMetric(float64(direct.Milliseconds())/float64(n), "ms/direct")
	b.ReportMetric(float64(served.Milliseconds())/float64(n), "ms/served")
}
