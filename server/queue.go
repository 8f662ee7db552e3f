package server

import (
	"context"
	"errors"
)

// ErrQueueFull is returned by Queue.Submit when as many jobs are waiting as
// the queue holds: the HTTP reply is 503 with Retry-After.
var ErrQueueFull = errors.New("the queue is full")

// ErrClosed is returned by Queue.Submit once the queue is shutting down.
var ErrClosed = errors.New("the server is shutting down")

// A Queue runs jobs first in, first out. JetStreamQueue is the one
// implementation (on a NATS server embedded in this process by default);
// tests may bring their own.
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

// keepFinished is how many finished jobs stay visible to Job (with their
// images, for clients that read them late).
const keepFinished = 32
