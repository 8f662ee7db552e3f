package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/sdgo/sdgo/pipeline"
)

// JobState is where a job is in its life.
type JobState string

// The states of a job.
const (
	StateQueued    JobState = "queued"
	StateRunning   JobState = "running"
	StateDone      JobState = "done"
	StateFailed    JobState = "failed"
	StateCancelled JobState = "cancelled"
)

// Why a job was stopped early (the cause of its context's cancellation).
var (
	ErrCancelled   = errors.New("job cancelled")
	ErrInterrupted = errors.New("job interrupted")
	errDisconnect  = errors.New("client disconnected")
)

// Image is one finished picture of a job: a PNG carrying its parameters.
type Image struct {
	PNG        []byte
	Seed       uint64
	Parameters string
}

// A Job is one generation request on its way through the queue. Its
// progress and preview change as it runs; readers take a Status and wait on
// Changed.
type Job struct {
	ID      string
	Options pipeline.Options
	Created time.Time
	// Model is the title of the model the job was validated against: a
	// distributed queue sends it to the workers that have that model.
	Model string
	// Key, when set, is the client's idempotency key: a queue that sees it
	// twice queues the job once (JetStream's message id).
	Key string
	// Transient marks a job whose images only the request that made it can
	// collect (a synchronous request without a Key): when its front end
	// shuts down, the queue cancels it for good instead of keeping it for
	// the next start, since that request has its 503 and nobody is left to
	// read the images.
	Transient bool

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	status  Status
	changed chan struct{}
	done    chan struct{}
}

// Status is a snapshot of a job.
type Status struct {
	State    JobState
	Progress pipeline.Progress
	// Preview is a PNG of the latest step's latents; PreviewStep counts
	// previews so a reader sees when it changed.
	Preview     []byte
	PreviewStep int
	Images      []Image
	Err         error
	Started     time.Time
	Ended       time.Time
}

// ETA estimates the time left from the steps done so far.
func (s Status) ETA() time.Duration {
	p := s.Progress
	done := p.Image*p.Steps + p.Step
	total := p.Images * p.Steps
	if done == 0 || total == 0 {
		return 0
	}
	return time.Duration(float64(p.Elapsed) / float64(done) * float64(total-done))
}

// Fraction is how much of the job is done, 0…1.
func (s Status) Fraction() float64 {
	p := s.Progress
	if s.State == StateDone {
		return 1
	}
	if p.Images*p.Steps == 0 {
		return 0
	}
	return float64(p.Image*p.Steps+p.Step) / float64(p.Images*p.Steps)
}

// NewJob makes a queued job for opts. Cancelling parent cancels the job.
func NewJob(parent context.Context, opts pipeline.Options) *Job {
	var b [8]byte
	rand.Read(b[:])
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	j := &Job{ID: hex.EncodeToString(b[:]), Options: opts, Created: time.Now(), ctx: ctx, cancel: cancel,
		changed: make(chan struct{}), done: make(chan struct{})}
	j.status.State = StateQueued
	j.status.Progress = pipeline.Progress{Images: max(opts.BatchCount, 1), Steps: opts.Steps}
	return j
}

// Context is the job's context: done when the job is cancelled.
func (j *Job) Context() context.Context { return j.ctx }

// Cancel stops the job (see Queue.Cancel).
func (j *Job) Cancel() { j.cancelWith(ErrCancelled) }

func (j *Job) cancelWith(cause error) { j.cancel(cause) }

// Status returns a snapshot of the job.
func (j *Job) Status() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status
}

// State returns the job's state.
func (j *Job) State() JobState { return j.Status().State }

// Changed returns a channel closed at the job's next change.
func (j *Job) Changed() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.changed
}

// Done returns a channel closed when the job has finished.
func (j *Job) Done() <-chan struct{} { return j.done }

// update changes the status under the lock and wakes the readers.
func (j *Job) update(f func(*Status)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(&j.status)
	close(j.changed)
	j.changed = make(chan struct{})
}

// Start marks the job running (a queue calls it when a worker takes the job).
func (j *Job) Start() {
	j.update(func(s *Status) { s.State, s.Started = StateRunning, time.Now() })
}

// SetProgress records how far the job is.
func (j *Job) SetProgress(p pipeline.Progress) { j.update(func(s *Status) { s.Progress = p }) }

// SetPreview records a preview PNG.
func (j *Job) SetPreview(png []byte) {
	j.update(func(s *Status) { s.Preview, s.PreviewStep = png, s.PreviewStep+1 })
}

// outcome is the final state of a job that ended with err.
func outcome(err error) JobState {
	switch {
	case err == nil:
		return StateDone
	case errors.Is(err, context.Canceled) || errors.Is(err, ErrCancelled) || errors.Is(err, ErrInterrupted) ||
		errors.Is(err, ErrClosed) || errors.Is(err, errDisconnect):
		return StateCancelled
	}
	return StateFailed
}

// finish records the outcome once; later calls do nothing.
func (j *Job) finish(images []Image, err error) {
	j.mu.Lock()
	s := &j.status
	if s.State == StateDone || s.State == StateFailed || s.State == StateCancelled {
		j.mu.Unlock()
		return
	}
	s.Images, s.Err, s.Ended, s.State = images, err, time.Now(), outcome(err)
	j.Options.InitImage = nil // the decoded input may be large: not kept past the job
	close(j.changed)
	j.changed = make(chan struct{})
	j.mu.Unlock()
	close(j.done)
	j.cancel(nil) // release the context
}

// Finish records the job's images and error (a runner calls it once).
func (j *Job) Finish(images []Image, err error) { j.finish(images, err) }
