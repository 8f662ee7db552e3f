package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sdgo/sdgo/pipeline"
)

// fakeRun finishes a job with one tiny image after delay; a prompt of
// "poison" always fails. It counts runs per job id.
func fakeRun(delay time.Duration, runs *sync.Map) RunFunc {
	return func(ctx context.Context, j *Job) error {
		n, _ := runs.LoadOrStore(j.ID, new(int))
		*n.(*int)++
		if j.Options.Prompt == "poison" {
			err := errors.New("poison: always fails")
			j.Finish(nil, err)
			return err
		}
		for s := range 3 {
			select {
			case <-ctx.Done():
				j.Finish(nil, context.Cause(ctx))
				return context.Cause(ctx)
			case <-time.After(delay / 3):
			}
			j.SetProgress(pipeline.Progress{Step: s + 1, Steps: 3, Images: 1})
		}
		j.Finish([]Image{{PNG: []byte("png:" + j.ID), Seed: j.Options.Seed}}, nil)
		return nil
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newQueue(t *testing.T, nc *nats.Conn, opts JetStreamOptions) *JetStreamQueue {
	t.Helper()
	var q *JetStreamQueue
	var err error
	for range 100 { // a cluster may still be electing its leader
		if q, err = NewJetStreamQueue(nc, opts); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Close(ctx)
	})
	return q
}

func submitN(t *testing.T, q *JetStreamQueue, n int, prompt string) []string {
	t.Helper()
	var ids []string
	for i := range n {
		j := NewJob(context.Background(), pipeline.Options{Prompt: prompt, Steps: 3, BatchCount: 1, Seed: uint64(i)})
		j.Model = "m"
		var err error
		for range 50 {
			if err = q.Submit(j); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	return ids
}

// waitStates polls the bucket (through q) until every job is final, for
// at most limit; it returns the states.
func waitStates(t *testing.T, q *JetStreamQueue, ids []string, limit time.Duration) map[string]JobState {
	t.Helper()
	deadline := time.Now().Add(limit)
	states := map[string]JobState{}
	for time.Now().Before(deadline) {
		finals := 0
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, _, _, err := q.Record(ctx, id)
			cancel()
			if err == nil {
				states[id] = st
				if final(st) {
					finals++
				}
			}
		}
		if finals == len(ids) {
			return states
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not all jobs ended within %v: %v", limit, states)
	return nil
}

// A job that always fails ends as failed after MaxDeliver attempts, with
// its last error, and the others are done meanwhile.
func TestJetStreamPoisonJob(t *testing.T) {
	q, err := NewEmbeddedQueue("", "", JetStreamOptions{MaxDeliver: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(context.Background())
	var runs sync.Map
	if err := q.Work("m", 1, fakeRun(10*time.Millisecond, &runs)); err != nil {
		t.Fatal(err)
	}
	poison := submitN(t, q, 1, "poison")
	good := submitN(t, q, 3, "fine")
	states := waitStates(t, q, append(poison, good...), 20*time.Second)
	st, attempts, log, _ := q.Record(context.Background(), poison[0])
	if st != StateFailed || attempts != 3 || !strings.Contains(strings.Join(log, "\n"), "failed after 3 attempts: poison") {
		t.Errorf("poison job: %s after %d attempts; log %q", st, attempts, log)
	}
	if n, _ := runs.Load(poison[0]); *n.(*int) != 3 {
		t.Errorf("poison job ran %d times, want 3", *n.(*int))
	}
	for _, id := range good {
		if states[id] != StateDone {
			t.Errorf("job %s: %s", id, states[id])
		}
	}
	j, _ := q.Job(poison[0])
	<-j.Done()
	if err := j.Status().Err; err == nil || !strings.Contains(err.Error(), "poison") {
		t.Errorf("the front end's job: %v", err)
	}
}

// Jobs queued by a front end that stops are run after it, and a new front
// end finds their images; a retried submission with the same key is queued
// once.
func TestJetStreamFrontEndRestart(t *testing.T) {
	ns, err := StartNATS(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc1, _ := nats.Connect("", nats.InProcessServer(ns))
	front1, err := NewJetStreamQueue(nc1, JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := submitN(t, front1, 5, "fine")
	dup := NewJob(context.Background(), pipeline.Options{Prompt: "fine", Steps: 3})
	dup.ID, dup.Key, dup.Model = ids[0], "key-0", "m"
	front1.Close(context.Background())
	nc1.Close()

	nc2, _ := nats.Connect("", nats.InProcessServer(ns))
	defer nc2.Close()
	front2 := newQueue(t, nc2, JetStreamOptions{})
	if st := front2.Stats(); st.Waiting != 5 {
		t.Errorf("after the restart %d jobs wait, want 5", st.Waiting)
	}
	var runs sync.Map
	if err := front2.Work("m", 2, fakeRun(10*time.Millisecond, &runs)); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		j, ok := front2.Job(id)
		if !ok {
			t.Fatalf("job %s lost", id)
		}
		select {
		case <-j.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("job %s: %s", id, j.State())
		}
		if st := j.Status(); st.State != StateDone || len(st.Images) != 1 || string(st.Images[0].PNG) != "png:"+id {
			t.Errorf("job %s: %s %v", id, st.State, st.Err)
		}
	}
	// Idempotency: the same key twice is one message.
	k1 := NewJob(context.Background(), pipeline.Options{Prompt: "fine", Steps: 3})
	k1.Key, k1.ID, k1.Model = "retry-me", IDForKey("retry-me"), "m"
	k2 := NewJob(context.Background(), pipeline.Options{Prompt: "fine", Steps: 3})
	k2.Key, k2.ID, k2.Model = "retry-me", IDForKey("retry-me"), "m"
	if err := front2.Submit(k1); err != nil {
		t.Fatal(err)
	}
	if err := front2.Submit(k2); err != nil {
		t.Fatal(err)
	}
	waitStates(t, front2, []string{k1.ID}, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if n, _ := runs.Load(k1.ID); *n.(*int) != 1 {
		t.Errorf("a job submitted twice with one key ran %d times", *n.(*int))
	}
}

// Workers on a NATS server that restarts reconnect, and the queue drains.
func TestJetStreamNATSRestart(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ns, err := StartNATS(dir, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown() }) // the restarted one, after the queues close
	url := "nats://" + addr
	front := newQueue(t, connect(t, url), JetStreamOptions{Capacity: 64})
	worker := newQueue(t, connect(t, url), JetStreamOptions{AckWait: 2 * time.Second})
	var runs sync.Map
	if err := worker.Work("m", 2, fakeRun(60*time.Millisecond, &runs)); err != nil {
		t.Fatal(err)
	}
	ids := submitN(t, front, 12, "fine")
	time.Sleep(150 * time.Millisecond)
	ns.Shutdown()
	ns.WaitForShutdown()
	ns, err = StartNATS(dir, addr)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	states := waitStates(t, front, ids, 30*time.Second)
	t.Logf("drained in %v", time.Since(t0))
	for _, id := range ids {
		if states[id] != StateDone {
			t.Errorf("job %s: %s", id, states[id])
		}
	}
}

// A three-node JetStream cluster on loopback with everything replicated
// three times goes on when one node is killed mid-run: nothing is lost.
func TestJetStreamCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster takes seconds to form")
	}
	var clientPorts, routePorts [3]int
	for i := range 3 {
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
	}
	var nodes [3]*natsserver.Server
	var urls []string
	for i := range 3 {
		var routes []string
		for k := range 3 {
			if k != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", routePorts[k]))
			}
		}
		opts := &natsserver.Options{ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: clientPorts[i],
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
			Cluster: natsserver.ClusterOpts{Name: "sdgo", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  natsserver.RoutesFromStr(strings.Join(routes, ","))}
		ns, err := natsserver.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		t.Cleanup(ns.Shutdown) // after the queues close (registered later, run first)
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("node not ready")
		}
		nodes[i] = ns
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]))
	}
	all := strings.Join(urls, ",")
	// JetStream answers once the cluster has a meta leader: wait for it
	// rather than for a request's timeout.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if nodes[0].JetStreamIsLeader() || nodes[1].JetStreamIsLeader() || nodes[2].JetStreamIsLeader() {
			break
		}
	}
	front := newQueue(t, connect(t, all), JetStreamOptions{Replicas: 3, Capacity: 64})
	worker := newQueue(t, connect(t, all), JetStreamOptions{Replicas: 3, AckWait: 2 * time.Second})
	var runs sync.Map
	for range 50 {
		if err := worker.Work("m", 2, fakeRun(60*time.Millisecond, &runs)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ids := submitN(t, front, 12, "fine")
	time.Sleep(200 * time.Millisecond)
	nodes[0].Shutdown() // one of three: the others keep a quorum
	t0 := time.Now()
	states := waitStates(t, front, ids, 60*time.Second)
	t.Logf("drained in %v", time.Since(t0))
	for _, id := range ids {
		if states[id] != StateDone {
			t.Errorf("job %s: %s", id, states[id])
		}
	}
}

// A job cancelled through one connection's front end while a worker on
// another connection runs it (or is just taking it) stops within a bounded
// time: the cancel is in the bucket before its message goes out, and the
// worker registers a job before it reads the bucket. Cancels land from the
// moment of submission to well into the run.
func TestJetStreamCancelAcross(t *testing.T) {
	conn := inProcessConns(t, "")
	front := newQueue(t, conn(), JetStreamOptions{Memory: true, Capacity: 64})
	worker := newQueue(t, conn(), JetStreamOptions{Memory: true, Name: "other"})
	var ended sync.Map // job id → when its run returned
	if err := worker.Work("m", 2, func(ctx context.Context, j *Job) error {
		defer ended.Store(j.ID, time.Now())
		for s := range 100 { // 5 s unless cancelled
			select {
			case <-ctx.Done():
				j.Finish(nil, context.Cause(ctx))
				return context.Cause(ctx)
			case <-time.After(50 * time.Millisecond):
			}
			j.SetProgress(pipeline.Progress{Step: s + 1, Steps: 100, Images: 1})
		}
		j.Finish([]Image{{PNG: []byte("png")}}, nil)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	delays := []time.Duration{0, 0, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond,
		8 * time.Millisecond, 13 * time.Millisecond, 30 * time.Millisecond, 200 * time.Millisecond}
	var wg sync.WaitGroup
	for i, d := range delays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := NewJob(context.Background(), pipeline.Options{Prompt: "long", Steps: 100, BatchCount: 1, Seed: uint64(i)})
			j.Model = "m"
			if err := front.Submit(j); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(d)
			at := time.Now()
			front.Cancel(j.ID)
			select {
			case <-j.Done():
			case <-time.After(3 * time.Second):
				t.Errorf("job %d (cancelled after %v): still %s 3 s after the cancel", i, d, j.State())
				return
			}
			if st := j.State(); st != StateCancelled {
				t.Errorf("job %d (cancelled after %v): %s", i, d, st)
			}
			// The worker's run, if it began, stops within a bounded time.
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				st, _, _, _ := front.Record(ctx, j.ID)
				cancel()
				_, running := worker.runningJob(j.ID)
				if final(st) && !running {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if e, ok := ended.Load(j.ID); ok && e.(time.Time).Sub(at) > 2*time.Second {
				t.Errorf("job %d (cancelled after %v): the worker stopped %v after the cancel", i, d, e.(time.Time).Sub(at))
			}
			if _, running := worker.runningJob(j.ID); running {
				t.Errorf("job %d (cancelled after %v): the worker still runs it", i, d)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if st, _, log, _ := front.Record(ctx, j.ID); st != StateCancelled {
				t.Errorf("job %d (cancelled after %v): the bucket says %s; log %q", i, d, st, log)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	t.Logf("waited %v", time.Since(start))
}

// A job cancelled through the HTTP API of a front end while a worker on
// another connection runs it (sd-mini) stops within a bounded time, and
// its event stream ends with the cancel.
func TestEventsAcross(t *testing.T) {
	conn := inProcessConns(t, "")
	worker, err := NewServer(Config{Model: loadMini(t), ModelTitle: BuiltinModel,
		Queue: newQueue(t, conn(), JetStreamOptions{Memory: true, Name: "other"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.StartWorkers(1); err != nil {
		t.Fatal(err)
	}
	front := newQueue(t, conn(), JetStreamOptions{Memory: true})
	_, ts := newTest(t, Config{Queue: front})
	var j map[string]any
	call(t, ts, "POST", "/api/jobs", `{"prompt":"x","steps":150,"n_iter":8,"width":64,"height":64}`, &j)
	id := j["id"].(string)
	res, err := ts.Client().Get(ts.URL + j["events"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "event: step") { // running on the other connection
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now()
	call(t, ts, "DELETE", "/api/jobs/"+id, "", nil)
	rest, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(rest), "event: error\ndata: {\"id\":\""+id+"\",\"state\":\"cancelled\"") {
		t.Errorf("after DELETE: %.500s", rest)
	}
	wq := worker.queue.(*JetStreamQueue)
	for range 500 {
		if _, running := wq.runningJob(id); !running {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, running := wq.runningJob(id); running {
		t.Fatalf("the worker still runs the job %v after the cancel", time.Since(at))
	}
	if d := time.Since(at); d > 3*time.Second {
		t.Errorf("the worker stopped %v after the cancel", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, _, log, _ := front.Record(ctx, id); st != StateCancelled {
		t.Errorf("the bucket says %s; log %q", st, log)
	}
}

// A second message for a job that a worker runs (a submission retried
// after the stream's de-duplication window) does not run it again.
func TestJetStreamTwinMessage(t *testing.T) {
	q, err := NewEmbeddedQueue("", "", JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(context.Background())
	var runs sync.Map
	if err := q.Work("m", 2, fakeRun(300*time.Millisecond, &runs)); err != nil {
		t.Fatal(err)
	}
	ids := submitN(t, q, 1, "fine")
	j, _ := q.Job(ids[0])
	for deadline := time.Now().Add(10 * time.Second); j.State() == StateQueued && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	spec, err := encodeSpec(j)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := q.js.Publish(ctx, jsJobsSubject+"m", spec, jetstream.WithMsgID("a-later-retry")); err != nil {
		t.Fatal(err)
	}
	waitStates(t, q, ids, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the twin is taken meanwhile
	if n, _ := runs.Load(ids[0]); *n.(*int) != 1 {
		t.Errorf("the job ran %d times", *n.(*int))
	}
	if st := q.Stats(); st.Waiting != 0 || st.Running != 0 {
		t.Errorf("left in the stream: %+v", st)
	}
}

// Idle workers wait on a blocking pull, yet a queue closes at once: the
// pull ends with the queue's context.
func TestJetStreamIdleClose(t *testing.T) {
	q, err := NewEmbeddedQueue("", "", JetStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var runs sync.Map
	if err := q.Work("m", 2, fakeRun(0, &runs)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the pulls are waiting
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second { // a pull lasts 5 s
		t.Errorf("closing idle workers took %v", d)
	}
}

// inProcessConns starts an embedded NATS server for the test (keeping its
// streams in dir, or in memory when dir is "") and returns a function that
// opens a new in-process connection to it each time; the server shuts down
// after the connections and queues the test made close.
func inProcessConns(t *testing.T, dir string) func() *nats.Conn {
	t.Helper()
	ns, err := StartNATS(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown) // after the queues close
	return func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(ns))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
}

// A job this server's worker runs though no front end here holds it (queued
// by another front end, or before a restart) shows in /sdapi/v1/progress,
// and /sdapi/v1/interrupt stops it.
func TestProgressAndInterruptOfAnotherFrontEndsJob(t *testing.T) {
	conn := inProcessConns(t, "")
	s, ts := newTest(t, Config{Queue: newQueue(t, conn(), JetStreamOptions{Memory: true})})
	if err := s.StartWorkers(1); err != nil {
		t.Fatal(err)
	}
	other := newQueue(t, conn(), JetStreamOptions{Memory: true})
	job := NewJob(context.Background(), pipeline.Options{Prompt: "x", Width: 64, Height: 64, Steps: 150, BatchCount: 8, CFGScale: 2, Seed: 1})
	job.Model = BuiltinModel
	if err := other.Submit(job); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Task  string `json:"current_task"`
		State struct {
			Step  int `json:"sampling_step"`
			Steps int `json:"sampling_steps"`
		} `json:"state"`
	}
	waitFor(t, func() bool {
		call(t, ts, "GET", "/sdapi/v1/progress", "", &p)
		return p.Task == job.ID && p.State.Step > 0
	})
	if p.State.Steps != 150 {
		t.Errorf("progress of the other front end's job: %+v", p)
	}
	call(t, ts, "POST", "/sdapi/v1/interrupt", "", nil)
	select {
	case <-job.Done():
		if st := job.Status(); st.State != StateCancelled {
			t.Errorf("after interrupt: %s %v", st.State, st.Err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("interrupt did not stop the job")
	}
}

// On shutdown the jobs of synchronous requests without an Idempotency-Key
// (transient: their requests are answered 503, nobody is left to collect
// the images) are cancelled for good, running or waiting; a keyed
// request's job and an /api/jobs job stay queued for the next start.
func TestShutdownForgetsTransientJobs(t *testing.T) {
	conn := inProcessConns(t, t.TempDir())
	var logs syncBuffer
	q := newQueue(t, conn(), JetStreamOptions{})
	s, ts := newTest(t, Config{Queue: q, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := s.StartWorkers(1); err != nil {
		t.Fatal(err)
	}
	post := func(path, body, key string) <-chan int {
		status := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			res, err := ts.Client().Do(req)
			if err != nil {
				status <- 0
				return
			}
			res.Body.Close()
			status <- res.StatusCode
		}()
		return status
	}
	const long = `{"prompt":"x","steps":150,"n_iter":8}`
	replies := []<-chan int{post("/sdapi/v1/txt2img", long, "")}
	waitFor(t, func() bool { return len(s.queue.Running()) == 1 })
	replies = append(replies, post("/sdapi/v1/txt2img", long, ""), post("/v1/images/generations", `{"prompt":"x","steps":150,"n":8}`, ""),
		post("/sdapi/v1/txt2img", long, "retry-me"))
	var native map[string]any
	call(t, ts, "POST", "/api/jobs", long, &native)
	waitFor(t, func() bool { return s.queue.Stats().Waiting == 4 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	q.Close(ctx) // as Server.Close does first
	for i, r := range replies {
		if status := <-r; status != http.StatusServiceUnavailable {
			t.Errorf("request %d: %d, want 503", i, status)
		}
	}
	// Each request's job, from its log line.
	jobs := map[string]string{}
	for _, m := range regexp.MustCompile(`route="POST (\S+)" status=503 duration=\S+ job=(\w+)`).FindAllStringSubmatch(logs.String(), -1) {
		jobs[m[2]] = m[1]
	}
	want := map[string]JobState{IDForKey("retry-me"): StateQueued, native["id"].(string): StateQueued}
	for id := range jobs {
		if _, ok := want[id]; !ok {
			want[id] = StateCancelled
		}
	}
	if len(want) != 5 {
		t.Fatalf("jobs %v from the log:\n%s", jobs, logs.String())
	}
	next := newQueue(t, conn(), JetStreamOptions{})
	for id, state := range want {
		got, _, log, err := next.Record(context.Background(), id)
		if err != nil || got != state {
			t.Errorf("job %s (%s): %s %v, want %s; log %q", id, jobs[id], got, err, state, log)
		}
	}
}
