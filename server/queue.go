package server

import (
	"context"
	"errors"
	"sync"
)

// ErrQueueFull is returned by Queue.Submit when as many jobs are waiting as
// the queue holds: the HTTP reply is 503 with Retry-After.
var ErrQueueFull = errors.New("the queue is full")

// ErrClosed is returned by Queue.Submit once the queue is shutting down.
var ErrClosed = errors.New("the server is shutting down")

// A Queue runs jobs first in, first out. LocalQueue is the in-process one;
// a distributed queue (NATS JetStream, issue 19) implements the same methods.
type Queue interface {
	// Submit queues job, or returns ErrQueueFull or ErrClosed at once.
	Submit(job *Job) error
	// Job returns a queued, running or recently finished job.
	Job(id string) (*Job, bool)
	// Cancel stops a job: a waiting one never starts, a running one stops
	// within one sampler step. It reports whether the job was found.
	Cancel(id string) bool
	// Running lists the jobs being worked on now.
	Running() []*Job
	// Stats reports how many jobs wait and run.
	Stats() QueueStats
	// Close stops taking jobs, cancels the waiting ones and waits for the
	// running ones until ctx is done, then cancels those too.
	Close(ctx context.Context) error
}

// QueueStats is a snapshot of a queue's load.
type QueueStats struct {
	Waiting, Running, Capacity int
}

// RunFunc does one job's work, reporting progress on the job, and calls
// job.Finish. A job cancelled while it waited comes with its context done:
// RunFunc then only records that. It returns the job's error.
type RunFunc func(ctx context.Context, job *Job) error

// LocalQueue is a Queue served by a fixed number of goroutines in this
// process.
type LocalQueue struct {
	run  RunFunc
	jobs chan *Job
	wg   sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	all     map[string]*Job
	seq     map[string]int // submission order of the jobs in all
	next    int
	order   []string // finished job ids, oldest first, for trimming
	running map[string]*Job
}

// keepFinished is how many finished jobs stay visible to Job (with their
// images, for clients that read them late).
const keepFinished = 32

// NewLocalQueue starts workers goroutines that run jobs with run; at most
// size jobs wait.
func NewLocalQueue(workers, size int, run RunFunc) *LocalQueue {
	q := &LocalQueue{run: run, jobs: make(chan *Job, size), all: map[string]*Job{}, seq: map[string]int{}, running: map[string]*Job{}}
	for range max(workers, 1) {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

// Submit implements Queue.
func (q *LocalQueue) Submit(j *Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	select {
	case q.jobs <- j:
		q.all[j.ID] = j
		q.seq[j.ID] = q.next
		q.next++
		return nil
	default:
		return ErrQueueFull
	}
}

func (q *LocalQueue) work() {
	defer q.wg.Done()
	for j := range q.jobs {
		// A job cancelled while it waited is still handed to run, which
		// finds its context done and records it without working.
		q.mu.Lock()
		q.running[j.ID] = j
		q.mu.Unlock()
		if j.ctx.Err() == nil {
			j.Start()
		}
		if err := q.run(j.ctx, j); err != nil {
			j.finish(nil, err)
		}
		q.mu.Lock()
		delete(q.running, j.ID)
		q.mu.Unlock()
		q.retire(j)
	}
}

// retire keeps the last keepFinished finished jobs.
func (q *LocalQueue) retire(j *Job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.order = append(q.order, j.ID)
	for len(q.order) > keepFinished {
		delete(q.all, q.order[0])
		delete(q.seq, q.order[0])
		q.order = q.order[1:]
	}
}

// Job implements Queue.
func (q *LocalQueue) Job(id string) (*Job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.all[id]
	return j, ok
}

// Cancel implements Queue.
func (q *LocalQueue) Cancel(id string) bool {
	j, ok := q.Job(id)
	if ok {
		j.Cancel()
	}
	return ok
}

// Ahead reports how many waiting jobs were queued before job id (0 when it
// runs or is next). Queues may implement it; the page shows it.
func (q *LocalQueue) Ahead(id string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, mine := 0, q.seq[id]
	for other, j := range q.all {
		if q.seq[other] < mine && j.State() == StateQueued && j.ctx.Err() == nil {
			n++
		}
	}
	return n
}

// Running implements Queue.
func (q *LocalQueue) Running() []*Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*Job, 0, len(q.running))
	for _, j := range q.running {
		out = append(out, j)
	}
	return out
}

// Stats implements Queue.
func (q *LocalQueue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueStats{Waiting: len(q.jobs), Running: len(q.running), Capacity: cap(q.jobs)}
}

// Close implements Queue.
func (q *LocalQueue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.jobs)
	}
	for _, j := range q.all { // waiting jobs never start: the workers skip them
		if j.State() == StateQueued {
			j.cancelWith(ErrClosed)
		}
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, j := range q.Running() {
			j.cancelWith(ErrClosed)
		}
		<-done
		return ctx.Err()
	}
}
