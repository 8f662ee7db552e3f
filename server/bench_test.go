package server

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
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

// BenchmarkQueueCost is the JetStream queue's own cost per job on
// loopback, without HTTP: a NATS server listening on 127.0.0.1 (TCP, as
// for outside workers), a front end and a worker on connections of their
// own, and a job whose run finishes at once with a 64×64 PNG. It reports
// the median and 95th percentile of enqueue → worker start (Submit until
// the run begins: stream publish, the KV queued record, the worker's pull,
// its KV running record) and of result back (the run's end until the
// front end's job is done: object-store put, KV done record, the watch,
// object-store get). Jobs go one at a time.
func BenchmarkQueueCost(b *testing.B) {
	front, worker, pic := queuePair(b)
	var mu sync.Mutex
	started, ended := map[string]time.Time{}, map[string]time.Time{}
	worker.Work("m", 1, func(ctx context.Context, j *Job) error {
		mu.Lock()
		started[j.ID] = time.Now()
		mu.Unlock()
		j.Finish([]Image{{PNG: pic, Seed: j.Options.Seed}}, nil)
		mu.Lock()
		ended[j.ID] = time.Now()
		mu.Unlock()
		return nil
	})
	var toStart, back, total []time.Duration
	i := 0
	for b.Loop() {
		j := NewJob(context.Background(), pipeline.Options{Prompt: "a red circle", Steps: 20, BatchCount: 1, Seed: uint64(i)})
		j.Model = "m"
		i++
		t0 := time.Now()
		if err := front.Submit(j); err != nil {
			b.Fatal(err)
		}
		select {
		case <-j.Done():
		case <-time.After(30 * time.Second):
			st, at, log, _ := front.Record(context.Background(), j.ID)
			b.Fatalf("job %d took more than 30 s: %s %d %q", i, st, at, log)
		}
		t1 := time.Now()
		if st := j.Status(); st.State != StateDone || len(st.Images) != 1 {
			b.Fatalf("job %s: %s %v", j.ID, st.State, st.Err)
		}
		mu.Lock()
		toStart, back, total = append(toStart, started[j.ID].Sub(t0)), append(back, t1.Sub(ended[j.ID])), append(total, t1.Sub(t0))
		mu.Unlock()
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"start", toStart}, {"back", back}, {"total", total}} {
		slices.Sort(m.d)
		b.ReportMetric(float64(m.d[len(m.d)/2].Microseconds())/1000, "ms-"+m.name+"-p50")
		b.ReportMetric(float64(m.d[len(m.d)*95/100].Microseconds())/1000, "ms-"+m.name+"-p95")
	}
}

// queuePair is a NATS server listening on loopback TCP with a front end
// and a worker queue on connections of their own, and a 64×64 PNG.
func queuePair(b *testing.B) (front, worker *JetStreamQueue, pic []byte) {
	ns, err := StartNATS(b.TempDir(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ns.Shutdown) // after the queues close
	queue := func(opts JetStreamOptions) *JetStreamQueue {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		q, err := NewJetStreamQueue(nc, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { q.Close(context.Background()) })
		return q
	}
	var buf bytes.Buffer
	png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 64, 64)))
	return queue(JetStreamOptions{Capacity: 1 << 20}), queue(JetStreamOptions{}), buf.Bytes()
}

// BenchmarkQueueThroughput is how many jobs a second the queue itself
// carries: 200 jobs submitted at once by 8 submitters, 8 workers whose run
// finishes at once with a 64×64 PNG (its object-store put and get
// included), on loopback TCP. Everything (NATS, front end, workers) shares
// this machine's cores.
func BenchmarkQueueThroughput(b *testing.B) {
	front, worker, pic := queuePair(b)
	worker.Work("m", 8, func(ctx context.Context, j *Job) error {
		j.Finish([]Image{{PNG: pic, Seed: j.Options.Seed}}, nil)
		return nil
	})
	const jobs, submitters = 200, 8
	start := time.Now()
	n := 0
	for b.Loop() {
		var wg sync.WaitGroup
		for s := range submitters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []*Job
				for i := range jobs / submitters {
					j := NewJob(context.Background(), pipeline.Options{Prompt: "a red circle", Steps: 20, BatchCount: 1, Seed: uint64(s*1000 + i)})
					j.Model = "m"
					if err := front.Submit(j); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, j)
				}
				for _, j := range mine {
					select {
					case <-j.Done():
					case <-time.After(60 * time.Second):
						b.Error("a job took more than 60 s")
						return
					}
				}
			}()
		}
		wg.Wait()
		n += jobs
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "jobs/s")
}
