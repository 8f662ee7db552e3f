package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sdgo/sdgo/pipeline"
)

// The names the JetStream queue uses. Jobs are published on
// sdgo.jobs.MODEL (a work-queue stream: each job goes to one worker); a
// job's state is the key ID of the key-value bucket; its images are the
// objects ID/N.png; its progress and previews go out on sdgo.job.ID, and a
// cancel on sdgo.cancel.ID.
const (
	jsStream      = "SDGO_JOBS"
	jsBucket      = "sdgo_jobs"
	jsObjects     = "sdgo_images"
	jsJobsSubject = "sdgo.jobs."
	jsEventPrefix = "sdgo.job."
	jsCancelPref  = "sdgo.cancel."
)

// dedupWindow is how long the stream remembers a message id: a submission
// retried within it (an Idempotency-Key, a line of a resumed batch) is
// queued once. A day, so that a batch of many hours resumed the next
// morning does not queue its waiting jobs again; the ids of a day's jobs
// take a few megabytes of the server's memory.
const dedupWindow = 24 * time.Hour

// JetStreamOptions configures a JetStreamQueue; every field has a working
// zero value.
type JetStreamOptions struct {
	// Replicas of the stream, bucket and object store: 1, or 3 on a
	// three-node cluster.
	Replicas int
	// Memory keeps the queue in memory instead of on disk (tests, and the
	// library's default when no data folder is named).
	Memory bool
	// Capacity is how many jobs may wait (default 16): Submit returns
	// ErrQueueFull beyond it.
	Capacity int
	// AckWait is how long a job may go without a sign of life from its
	// worker before it is given to another (default 30 s; workers signal
	// every step).
	AckWait time.Duration
	// MaxDeliver is how many times a job is tried before it is failed with
	// its last error (default 3).
	MaxDeliver int
	// Name names this process's workers in the job log (default host:pid).
	Name   string
	Logger *slog.Logger
}

// A JetStreamQueue is a Queue on NATS JetStream, shared by any number of
// front ends (Submit, Job, Cancel) and workers (Work) on any machines.
// Delivery is at least once with explicit acknowledgement; a job's results
// are written under its id, so a job run twice is stored once.
type JetStreamQueue struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	obj   jetstream.ObjectStore
	opts  JetStreamOptions
	log   *slog.Logger
	onEnd []func() // run by Close after the connection closes

	ctx    context.Context // ends the workers' fetch loops
	stop   context.CancelFunc
	hard   context.Context // ends the workers' writes too: Close past its deadline
	kill   context.CancelFunc
	wg     sync.WaitGroup
	subs   []*nats.Subscription
	watch  jetstream.KeyWatcher
	closed chan struct{}

	mu      sync.Mutex
	closing bool
	jobs    map[string]*jsJob // jobs this process submitted or looked up
	order   []string          // finished job ids, oldest first, for trimming
	running map[string]*Job   // worker-side jobs running here, by id
	models  map[string]bool   // models whose consumers exist
	first   string            // the first model worked on: for jobs that name none
}

// jsJob is a job this process knows, with its place in the stream.
type jsJob struct {
	job *Job
	seq uint64
}

// jobSpec is a job as it travels to the workers.
type jobSpec struct {
	ID             string           `json:"id"`
	Model          string           `json:"model"`
	Created        time.Time        `json:"created"`
	Prompt         string           `json:"prompt"`
	NegativePrompt string           `json:"negative_prompt,omitempty"`
	Width          int              `json:"width"`
	Height         int              `json:"height"`
	Steps          int              `json:"steps"`
	CFGScale       float64          `json:"cfg_scale"`
	Seed           uint64           `json:"seed"`
	BatchCount     int              `json:"batch_count"`
	Sampler        string           `json:"sampler,omitempty"`
	Karras         bool             `json:"karras,omitempty"`
	ClipSkip       int              `json:"clip_skip,omitempty"`
	RNG            string           `json:"rng,omitempty"`
	InitImage      []byte           `json:"init_image,omitempty"` // PNG
	Strength       float64          `json:"strength,omitempty"`
	Inpaint        pipeline.Inpaint `json:"inpaint"`        // with Mask nil
	Mask           []byte           `json:"mask,omitempty"` // PNG
}

// jobRecord is a job's state in the key-value bucket.
type jobRecord struct {
	State    JobState      `json:"state"`
	Error    string        `json:"error,omitempty"` // the last attempt's
	Attempts int           `json:"attempts"`
	Worker   string        `json:"worker,omitempty"`
	Images   []imageRecord `json:"images,omitempty"`
	Started  time.Time     `json:"started,omitzero"`
	Ended    time.Time     `json:"ended,omitzero"`
	Log      []string      `json:"log,omitempty"` // one line per delivery and outcome
	// Cancel, when set, is why a front end cancelled the job: the worker
	// that runs it (or takes it next) stops. It is the cancel's durable
	// record; the message on sdgo.cancel.ID is only its fast path.
	Cancel string          `json:"cancel,omitempty"`
	Spec   json.RawMessage `json:"spec"`
}

// imageRecord names one finished image in the object store.
type imageRecord struct {
	Object     string `json:"object"`
	Seed       uint64 `json:"seed"`
	Parameters string `json:"parameters"`
}

// jobEvent is a running job's progress, on sdgo.job.ID.
type jobEvent struct {
	State    JobState          `json:"state"`
	Progress pipeline.Progress `json:"progress"`
	Preview  []byte            `json:"preview,omitempty"`
}

func final(s JobState) bool { return s == StateDone || s == StateFailed || s == StateCancelled }

// modelToken makes a model title one subject token.
func modelToken(title string) string {
	if title == "" {
		return "default"
	}
	var b strings.Builder
	for _, r := range title {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// NewJetStreamQueue makes (or finds) the stream, bucket and object store on
// nc's JetStream and returns a queue on them. The queue does not own nc.
func NewJetStreamQueue(nc *nats.Conn, opts JetStreamOptions) (*JetStreamQueue, error) {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Capacity <= 0 {
		opts.Capacity = 16
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.MaxDeliver <= 0 {
		opts.MaxDeliver = 3
	}
	if opts.Name == "" {
		host, _ := os.Hostname()
		opts.Name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	storage := jetstream.FileStorage
	if opts.Memory {
		storage = jetstream.MemoryStorage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: jsStream, Subjects: []string{jsJobsSubject + ">"}, Retention: jetstream.WorkQueuePolicy,
		Storage: storage, Replicas: opts.Replicas, Duplicates: dedupWindow,
	}); err != nil {
		return nil, fmt.Errorf("jetstream: stream %s: %w", jsStream, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: jsBucket, Storage: storage,
		Replicas: opts.Replicas, TTL: 7 * 24 * time.Hour, History: 1})
	if err != nil {
		return nil, fmt.Errorf("jetstream: bucket %s: %w", jsBucket, err)
	}
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: jsObjects, Storage: storage,
		Replicas: opts.Replicas, TTL: 7 * 24 * time.Hour})
	if err != nil {
		return nil, fmt.Errorf("jetstream: object store %s: %w", jsObjects, err)
	}
	q := &JetStreamQueue{nc: nc, js: js, kv: kv, obj: obj, opts: opts, log: log, closed: make(chan struct{}),
		jobs: map[string]*jsJob{}, running: map[string]*Job{}, models: map[string]bool{}}
	q.ctx, q.stop = context.WithCancel(context.Background())
	q.hard, q.kill = context.WithCancel(context.Background())
	// Front end: progress of the jobs it knows, and their final states.
	sub, err := nc.Subscribe(jsEventPrefix+"*", q.onEvent)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	q.subs = append(q.subs, sub)
	// Worker: cancels of the jobs it runs.
	sub, err = nc.Subscribe(jsCancelPref+"*", func(m *nats.Msg) {
		id := strings.TrimPrefix(m.Subject, jsCancelPref)
		q.mu.Lock()
		j := q.running[id]
		q.mu.Unlock()
		if j != nil {
			j.Cancel()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	q.subs = append(q.subs, sub)
	if q.watch, err = kv.WatchAll(q.ctx, jetstream.UpdatesOnly()); err != nil {
		return nil, fmt.Errorf("jetstream: watching %s: %w", jsBucket, err)
	}
	q.wg.Add(1)
	go q.watchStates()
	return q, nil
}

// OnClose adds f to what Close does after the connection closes (an
// embedded server's shutdown).
func (q *JetStreamQueue) OnClose(f func()) { q.onEnd = append(q.onEnd, f) }

// Conn is the queue's NATS connection.
func (q *JetStreamQueue) Conn() *nats.Conn { return q.nc }

func encodeSpec(j *Job) ([]byte, error) {
	o := j.Options
	sp := jobSpec{ID: j.ID, Model: j.Model, Created: j.Created, Prompt: o.Prompt, NegativePrompt: o.NegativePrompt,
		Width: o.Width, Height: o.Height, Steps: o.Steps, CFGScale: o.CFGScale, Seed: o.Seed, BatchCount: o.BatchCount,
		Sampler: o.Sampler, Karras: o.Karras, ClipSkip: o.ClipSkip, RNG: string(o.RNG), Strength: o.Strength, Inpaint: o.Inpaint}
	sp.Inpaint.Mask = nil
	for _, im := range []struct {
		src image.Image
		dst *[]byte
	}{{o.InitImage, &sp.InitImage}, {o.Mask, &sp.Mask}} {
		if im.src == nil {
			continue
		}
		var b bytes.Buffer
		if err := png.Encode(&b, im.src); err != nil {
			return nil, fmt.Errorf("encoding the job's image: %w", err)
		}
		*im.dst = b.Bytes()
	}
	return json.Marshal(sp)
}

func decodeSpec(data []byte) (jobSpec, pipeline.Options, error) {
	var sp jobSpec
	if err := json.Unmarshal(data, &sp); err != nil {
		return sp, pipeline.Options{}, fmt.Errorf("job spec: %w", err)
	}
	o := pipeline.Options{Prompt: sp.Prompt, NegativePrompt: sp.NegativePrompt, Width: sp.Width, Height: sp.Height,
		Steps: sp.Steps, CFGScale: sp.CFGScale, Seed: sp.Seed, BatchCount: sp.BatchCount, Sampler: sp.Sampler,
		Karras: sp.Karras, ClipSkip: sp.ClipSkip, RNG: pipeline.RNG(sp.RNG), Strength: sp.Strength, Inpaint: sp.Inpaint}
	for _, im := range []struct {
		src []byte
		dst *image.Image
	}{{sp.InitImage, &o.InitImage}, {sp.Mask, &o.Mask}} {
		if im.src == nil {
			continue
		}
		img, err := png.Decode(bytes.NewReader(im.src))
		if err != nil {
			return sp, o, fmt.Errorf("job spec %s: image: %w", sp.ID, err)
		}
		*im.dst = img
	}
	return sp, o, nil
}

// IDForKey is the job id an idempotency key gives: the same key makes the
// same job.
func IDForKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:8])
}

// Submit implements Queue: the job goes into the stream with its key (or
// its id) as the message id, so a retried submission is queued once.
func (q *JetStreamQueue) Submit(j *Job) error {
	q.mu.Lock()
	closing := q.closing
	q.mu.Unlock()
	if closing {
		return ErrClosed
	}
	if st := q.Stats(); st.Waiting >= st.Capacity {
		return ErrQueueFull
	}
	if j.Model == "" {
		q.mu.Lock()
		j.Model = q.first
		q.mu.Unlock()
	}
	spec, err := encodeSpec(j)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	existed := false
	if _, err := q.kv.Get(ctx, j.ID); err == nil { // a retried key: the job exists
		existed = true
	} else if err := q.putRecord(ctx, j.ID, jobRecord{State: StateQueued, Spec: spec}); err != nil {
		return err
	}
	// Known before its message goes out: a worker may take the job and
	// finish it before Publish returns, and the bucket watch applies only
	// the changes of jobs it knows.
	jj := &jsJob{job: j}
	q.mu.Lock()
	_, had := q.jobs[j.ID]
	if !had {
		q.jobs[j.ID] = jj
	}
	q.mu.Unlock()
	msgID := j.Key
	if msgID == "" {
		msgID = j.ID
	}
	ack, err := q.js.Publish(ctx, jsJobsSubject+modelToken(j.Model), spec, jetstream.WithMsgID(msgID))
	if err != nil {
		q.mu.Lock()
		if q.jobs[j.ID] == jj {
			delete(q.jobs, j.ID)
		}
		q.mu.Unlock()
		if strings.Contains(err.Error(), "maximum messages") {
			return ErrQueueFull
		}
		return fmt.Errorf("jetstream: queueing job %s: %w", j.ID, err)
	}
	q.mu.Lock()
	if had && ack.Duplicate {
		q.mu.Unlock()
		return nil // the handler takes the job it already has (see Job)
	}
	jj.seq = ack.Sequence
	q.jobs[j.ID] = jj
	q.mu.Unlock()
	context.AfterFunc(j.ctx, func() { q.cancelled(j) })
	if existed { // its record may be past queued, or done, already
		if kve, err := q.kv.Get(ctx, j.ID); err == nil {
			if r, err := decodeRecord(kve.Value()); err == nil && !final(j.State()) {
				q.apply(j, r)
			}
		}
	}
	return nil
}

// cancelled runs when a submitted job's context ends: a cancel by the
// user (or a client that went away) reaches the bucket and the worker.
func (q *JetStreamQueue) cancelled(j *Job) {
	st := j.Status()
	if final(st.State) {
		return // the context was released at the end
	}
	cause := context.Cause(j.ctx)
	q.mu.Lock()
	closing := q.closing
	q.mu.Unlock()
	if closing && errors.Is(cause, ErrClosed) {
		// This front end stops: the job stays queued in the stream for
		// the next one; only the local waiter learns of the shutdown.
		j.finish(nil, cause)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st.State == StateQueued {
		j.finish(nil, cause) // at once; the bucket follows
	}
	// The bucket first, then the message: a worker registers the job as
	// running before it reads the record, so it either reads the cancel or
	// is registered when the message (or the bucket's change) reaches it.
	q.updateRecord(ctx, j.ID, func(r *jobRecord) bool {
		switch {
		case final(r.State):
			return false
		case r.State == StateQueued:
			r.State, r.Error, r.Ended = StateCancelled, cause.Error(), time.Now()
			r.Log = append(r.Log, "cancelled while queued: "+cause.Error())
		default:
			r.Cancel = cause.Error()
			r.Log = append(r.Log, "cancel asked while running: "+cause.Error())
		}
		return true
	})
	q.mu.Lock()
	wj := q.running[j.ID] // run here: stopped at once
	q.mu.Unlock()
	if wj != nil {
		wj.Cancel()
	}
	q.nc.Publish(jsCancelPref+j.ID, nil) // run elsewhere: its worker stops it
}

func decodeRecord(b []byte) (jobRecord, error) {
	var r jobRecord
	err := json.Unmarshal(b, &r)
	return r, err
}

func (q *JetStreamQueue) putRecord(ctx context.Context, id string, r jobRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := q.kv.Put(ctx, id, b); err != nil {
		return fmt.Errorf("jetstream: job %s state: %w", id, err)
	}
	return nil
}

// tryTimeout bounds one attempt of a JetStream request that try repeats.
const tryTimeout = 3 * time.Second

// try runs f with at most tryTimeout an attempt until it succeeds, fails
// otherwise than by a timeout, or ctx ends: a cluster that lost a stream's
// leader answers again within seconds, while a request caught by the loss
// would wait out its whole deadline.
func try(ctx context.Context, f func(context.Context) error) error {
	for {
		c, cancel := context.WithTimeout(ctx, tryTimeout)
		err := f(c)
		cancel()
		if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)) {
			return err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

// updateRecord changes a job's record with f (when f reports a change),
// retrying on a concurrent write.
func (q *JetStreamQueue) updateRecord(ctx context.Context, id string, f func(*jobRecord) bool) (jobRecord, error) {
	for range 10 {
		var e jetstream.KeyValueEntry
		err := try(ctx, func(ctx context.Context) (err error) { e, err = q.kv.Get(ctx, id); return err })
		if err != nil {
			return jobRecord{}, fmt.Errorf("jetstream: job %s state: %w", id, err)
		}
		r, err := decodeRecord(e.Value())
		if err != nil {
			return r, fmt.Errorf("jetstream: job %s state: %w", id, err)
		}
		if !f(&r) {
			return r, nil
		}
		b, _ := json.Marshal(r)
		if err := try(ctx, func(ctx context.Context) error { _, err := q.kv.Update(ctx, id, b, e.Revision()); return err }); err == nil {
			return r, nil
		} else if ctx.Err() != nil {
			return r, err
		}
	}
	return jobRecord{}, fmt.Errorf("jetstream: job %s state: too many concurrent writes", id)
}

// Record returns a job's record as the bucket holds it: its state, its
// attempts and its log (one line per delivery), for tests and tools.
func (q *JetStreamQueue) Record(ctx context.Context, id string) (state JobState, attempts int, log []string, err error) {
	e, err := q.kv.Get(ctx, id)
	if err != nil {
		return "", 0, nil, err
	}
	r, err := decodeRecord(e.Value())
	return r.State, r.Attempts, r.Log, err
}

// onEvent applies a worker's progress to a job this process waits on.
func (q *JetStreamQueue) onEvent(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, jsEventPrefix)
	q.mu.Lock()
	jj := q.jobs[id]
	q.mu.Unlock()
	if jj == nil {
		return
	}
	var ev jobEvent
	if json.Unmarshal(m.Data, &ev) != nil {
		return
	}
	j := jj.job
	if final(j.State()) {
		return
	}
	j.update(func(s *Status) {
		if s.State == StateQueued {
			s.State, s.Started = StateRunning, time.Now()
		}
		s.Progress = ev.Progress
		if ev.Preview != nil {
			s.Preview, s.PreviewStep = ev.Preview, s.PreviewStep+1
		}
	})
}

// watchStates applies the bucket's changes to the jobs this process knows.
func (q *JetStreamQueue) watchStates() {
	defer q.wg.Done()
	updates := q.watch.Updates()
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-q.ctx.Done():
			return
		case e = <-updates:
		}
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			continue
		}
		q.mu.Lock()
		jj, wj := q.jobs[e.Key()], q.running[e.Key()]
		q.mu.Unlock()
		if jj == nil && wj == nil {
			continue
		}
		r, err := decodeRecord(e.Value())
		if err != nil {
			continue
		}
		if wj != nil && (r.Cancel != "" || r.State == StateCancelled) {
			wj.Cancel() // a front end elsewhere cancelled the job this process runs
		}
		if jj != nil && !final(jj.job.State()) {
			q.apply(jj.job, r)
		}
	}
}

// apply brings job to its record's state, loading the images of a done job.
func (q *JetStreamQueue) apply(j *Job, r jobRecord) {
	switch r.State {
	case StateRunning:
		if j.State() == StateQueued {
			j.update(func(s *Status) { s.State, s.Started = StateRunning, r.Started })
		}
	case StateDone:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var images []Image
		for _, ir := range r.Images {
			var b []byte
			err := try(ctx, func(ctx context.Context) (err error) { b, err = q.obj.GetBytes(ctx, ir.Object); return err })
			if err != nil {
				j.finish(nil, fmt.Errorf("jetstream: image %s: %w", ir.Object, err))
				q.retire(j.ID)
				return
			}
			images = append(images, Image{PNG: b, Seed: ir.Seed, Parameters: ir.Parameters})
		}
		j.finish(images, nil)
		q.retire(j.ID)
	case StateFailed, StateCancelled:
		err := errors.New(r.Error)
		if r.State == StateCancelled {
			err = fmt.Errorf("%w: %s", ErrCancelled, r.Error)
		}
		j.finish(nil, err)
		q.retire(j.ID)
	}
}

// retire keeps the last keepFinished finished jobs in memory (the bucket
// keeps them all: Job finds the others there).
func (q *JetStreamQueue) retire(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.order = append(q.order, id)
	for len(q.order) > keepFinished {
		delete(q.jobs, q.order[0])
		q.order = q.order[1:]
	}
}

// Job implements Queue: a job this process does not hold (submitted by
// another front end, or before a restart) is read from the bucket.
func (q *JetStreamQueue) Job(id string) (*Job, bool) {
	q.mu.Lock()
	jj := q.jobs[id]
	q.mu.Unlock()
	if jj != nil {
		return jj.job, true
	}
	if id == "" || strings.ContainsAny(id, ".*> ") {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := q.kv.Get(ctx, id)
	if err != nil {
		return nil, false
	}
	r, err := decodeRecord(e.Value())
	if err != nil {
		return nil, false
	}
	sp, opts, err := decodeSpec(r.Spec)
	if err != nil {
		return nil, false
	}
	j := NewJob(context.Background(), opts)
	j.ID, j.Model, j.Created = id, sp.Model, sp.Created
	q.mu.Lock()
	if other := q.jobs[id]; other != nil {
		q.mu.Unlock()
		return other.job, true
	}
	q.jobs[id] = &jsJob{job: j}
	q.mu.Unlock()
	context.AfterFunc(j.ctx, func() { q.cancelled(j) })
	q.apply(j, r)
	// A change between the read and the registration is not lost.
	if e2, err := q.kv.Get(ctx, id); err == nil && e2.Revision() != e.Revision() {
		if r2, err := decodeRecord(e2.Value()); err == nil && !final(j.State()) {
			q.apply(j, r2)
		}
	}
	return j, true
}

// Cancel implements Queue.
func (q *JetStreamQueue) Cancel(id string) bool {
	j, ok := q.Job(id)
	if ok {
		j.Cancel()
	}
	return ok
}

// Ahead reports how many jobs this process knows that wait before job id.
func (q *JetStreamQueue) Ahead(id string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	mine := q.jobs[id]
	if mine == nil {
		return 0
	}
	n := 0
	for _, o := range q.jobs {
		if o.seq != 0 && o.seq < mine.seq && o.job.State() == StateQueued && o.job.ctx.Err() == nil {
			n++
		}
	}
	return n
}

// Running implements Queue: the jobs this process knows to be running,
// its own workers' included when no front end here holds them (a job
// queued before a restart, or by another front end): /sdapi/v1/progress
// shows and /sdapi/v1/interrupt stops whatever this server is running.
func (q *JetStreamQueue) Running() []*Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*Job
	for _, jj := range q.jobs {
		if jj.job.State() == StateRunning {
			out = append(out, jj.job)
		}
	}
	for id, wj := range q.running {
		if q.jobs[id] == nil && wj.State() == StateRunning {
			out = append(out, wj)
		}
	}
	return out
}

// Stats implements Queue, from the stream (all front ends' jobs): the
// jobs delivered and not yet acknowledged run, the others wait.
func (q *JetStreamQueue) Stats() QueueStats {
	st := QueueStats{Capacity: q.opts.Capacity}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := q.js.Stream(ctx, jsStream)
	if err != nil {
		return st
	}
	info, err := s.Info(ctx)
	if err != nil {
		return st
	}
	running := 0
	names := s.ListConsumers(ctx)
	for ci := range names.Info() {
		running += ci.NumAckPending
	}
	st.Running = running
	st.Waiting = max(int(info.State.Msgs)-running, 0)
	return st
}

// closeGrace is how long Close, past its deadline, lets the cancelled
// jobs' workers write their outcome.
const closeGrace = 2 * time.Second

// Close implements Queue: this process's workers stop taking jobs; the
// jobs still queued stay in the stream for the next start, but for the
// transient ones (see Job.Transient), which are cancelled in the bucket.
func (q *JetStreamQueue) Close(ctx context.Context) error {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		<-q.closed
		return nil
	}
	q.closing = true
	var waiting []*Job
	for _, jj := range q.jobs {
		if jj.job.State() == StateQueued {
			waiting = append(waiting, jj.job)
		}
	}
	q.mu.Unlock()
	for _, j := range waiting {
		if j.Transient {
			j.finish(nil, ErrClosed) // before the bucket's cancel can reach it
			q.forget(j)
		}
		j.cancelWith(ErrClosed)
	}
	q.stop() // the fetch loops end; the running jobs go on
	q.watch.Stop()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		q.mu.Lock()
		for _, j := range q.running {
			j.cancelWith(ErrClosed)
		}
		q.mu.Unlock()
		// They write their outcome (a stopped job goes back to the
		// queue) within a grace period; past it, writes that wait on a
		// server that went away are cut short: such a job is redelivered
		// after the ack wait.
		select {
		case <-done:
		case <-time.After(closeGrace):
			q.kill()
			<-done
		}
		err = ctx.Err()
	}
	q.kill()
	for _, s := range q.subs {
		s.Unsubscribe()
	}
	q.nc.FlushTimeout(time.Second) // the server may be away: do not wait for it
	for _, f := range q.onEnd {
		f()
	}
	close(q.closed)
	return err
}

// forget cancels a transient job in the bucket as its front end stops
// (see Job.Transient): the worker that takes its message then drops it,
// and one that runs it already stops it.
func (q *JetStreamQueue) forget(j *Job) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const why = "its front end stopped; the request that waited for it was answered 503"
	q.updateRecord(ctx, j.ID, func(r *jobRecord) bool {
		switch {
		case final(r.State):
			return false
		case r.State == StateQueued:
			r.State, r.Error, r.Ended = StateCancelled, ErrClosed.Error(), time.Now()
			r.Log = append(r.Log, "cancelled while queued: "+why)
		default:
			r.Cancel = ErrClosed.Error()
			r.Log = append(r.Log, "cancel asked while running: "+why)
		}
		return true
	})
}

// runningJob reports whether this process's workers run job id.
func (q *JetStreamQueue) runningJob(id string) (*Job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.running[id]
	return j, ok
}
