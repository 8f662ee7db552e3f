package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Work starts parallel workers that take the jobs for model (a model's
// title, as the front end's Job.Model) and run them with run. They stop
// taking jobs at Close.
func (q *JetStreamQueue) Work(model string, parallel int, run RunFunc) error {
	return q.work(model, parallel, make(chan struct{}, max(parallel, 1)), run)
}

// work starts parallel fetchers for model that run at most cap(slots)
// jobs at once, slots being shared with other models' fetchers.
func (q *JetStreamQueue) work(model string, parallel int, slots chan struct{}, run RunFunc) error {
	tok := modelToken(model)
	q.mu.Lock()
	started := q.models[tok]
	q.models[tok] = true
	if q.first == "" {
		q.first = model
	}
	q.mu.Unlock()
	if started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// One durable consumer per model, shared by every worker of that
	// model; MaxDeliver is counted by the worker (see handle), so a job
	// whose worker died on its last attempt still ends as failed.
	cons, err := q.js.CreateOrUpdateConsumer(ctx, jsStream, jetstream.ConsumerConfig{
		Durable: "workers-" + tok, FilterSubject: jsJobsSubject + tok, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: q.opts.AckWait, MaxDeliver: -1, MaxAckPending: 1024, Replicas: q.opts.Replicas,
	})
	if err != nil {
		q.mu.Lock()
		delete(q.models, tok)
		q.mu.Unlock()
		return fmt.Errorf("jetstream: consumer for model %q: %w", model, err)
	}
	for range max(parallel, 1) {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			for q.ctx.Err() == nil {
				select {
				case slots <- struct{}{}:
				case <-q.ctx.Done():
					return
				}
				msg, err := q.next(cons)
				if msg == nil {
					<-slots
					if err != nil && q.ctx.Err() == nil {
						// The server is away (a pull expires when it comes
						// back without a heartbeat): try again shortly.
						select {
						case <-time.After(250 * time.Millisecond):
						case <-q.ctx.Done():
						}
					}
					continue
				}
				if q.ctx.Err() != nil { // taken as the queue closed: back for another worker
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					q.requeue(ctx, msg)
					cancel()
					<-slots
					return
				}
				q.handle(msg, run)
				<-slots
			}
		}()
	}
	return nil
}

// pullWait is how long one pull request waits for a job; pullHeartbeat is
// how often the server says it is still there meanwhile, so a pull lost to
// a server restart is noticed within two heartbeats.
const (
	pullWait      = 5 * time.Second
	pullHeartbeat = time.Second
)

// next waits for one job of cons: a blocking pull, so a job starts as soon
// as it is queued. It returns nil when none came within pullWait or the
// queue closes. The server's expiry (90% of pullWait) comes before the
// client's, so a job sent as the pull expires is received, not stranded
// until the ack wait; only the queue closing ends a pull early.
func (q *JetStreamQueue) next(cons jetstream.Consumer) (jetstream.Msg, error) {
	ctx, cancel := context.WithTimeout(q.ctx, pullWait)
	defer cancel()
	batch, err := cons.Fetch(1, jetstream.FetchContext(ctx), jetstream.FetchHeartbeat(pullHeartbeat))
	if err != nil {
		return nil, err
	}
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	if err := batch.Error(); err != nil && msg == nil && !errors.Is(err, context.DeadlineExceeded) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
		return nil, err
	}
	return msg, nil
}

// requeue puts a job this worker will not run back in the queue, as a
// new message acknowledged before the connection closes: a Nak is not
// kept across a restart of the server (an embedded one stops with this
// process), and the job would wait out the ack wait. A Nak is the fallback.
func (q *JetStreamQueue) requeue(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		msg.Nak()
		return
	}
	id := fmt.Sprintf("returned-%d", meta.Sequence.Stream) // one copy, however often this is tried
	if _, err := q.js.Publish(ctx, msg.Subject(), msg.Data(), jetstream.WithMsgID(id)); err != nil || msg.DoubleAck(ctx) != nil {
		msg.Nak()
	}
}

// handle runs one delivered job and acknowledges it.
func (q *JetStreamQueue) handle(msg jetstream.Msg, run RunFunc) {
	meta, err := msg.Metadata()
	if err != nil {
		msg.Term()
		return
	}
	sp, opts, err := decodeSpec(msg.Data())
	if err != nil {
		q.log.Error("dropping a job that does not decode", "err", err)
		msg.TermWithReason(err.Error())
		return
	}
	// The worker's own job; a front end in this process sees it through
	// its own Job, mirrored below. It is registered as running before the
	// record is read, so a cancel is never missed (see cancelled).
	q.mu.Lock()
	var front *Job
	if jj := q.jobs[sp.ID]; jj != nil && !final(jj.job.State()) {
		front = jj.job
		opts = front.Options // with what does not travel (a decoder, hooks)
	}
	if q.running[sp.ID] != nil { // this process runs the job already
		q.mu.Unlock()
		if meta.NumDelivered == 1 {
			msg.Ack() // a second message for it (see twin below)
		} // else its own message, redelivered: the run here acknowledges it
		return
	}
	wj := NewJob(context.Background(), opts)
	wj.ID, wj.Model, wj.Created = sp.ID, sp.Model, sp.Created
	q.running[wj.ID] = wj
	q.mu.Unlock()
	unregister := func() {
		q.mu.Lock()
		if q.running[wj.ID] == wj {
			delete(q.running, wj.ID)
		}
		q.mu.Unlock()
	}

	ctx, cancel := context.WithTimeout(q.hard, 10*time.Second)
	defer cancel()
	attempt := int(meta.NumDelivered)
	var gaveUp, twin bool
	rec, err := q.updateRecord(ctx, sp.ID, func(r *jobRecord) bool {
		if final(r.State) {
			return false
		}
		if r.State == StateRunning && attempt == 1 {
			// A second message for a job a worker runs (a submission
			// retried past the de-duplication window): that worker's own
			// message comes back if it dies, so this one is dropped.
			twin = true
			return false
		}
		if r.Cancel != "" {
			r.State, r.Ended, r.Error = StateCancelled, time.Now(), r.Cancel
			r.Log = append(r.Log, "cancelled before it started")
			return true
		}
		if attempt > q.opts.MaxDeliver {
			gaveUp = true
			last := r.Error
			if last == "" {
				last = fmt.Sprintf("the worker (%s) stopped without an answer", r.Worker)
			}
			r.State, r.Ended, r.Error = StateFailed, time.Now(), fmt.Sprintf("failed after %d attempts: %s", q.opts.MaxDeliver, last)
			r.Log = append(r.Log, r.Error)
			return true
		}
		r.State, r.Attempts, r.Worker, r.Started = StateRunning, attempt, q.opts.Name, time.Now()
		r.Log = append(r.Log, fmt.Sprintf("delivery %d to %s", attempt, q.opts.Name))
		return true
	})
	if err != nil {
		unregister()
		msg.NakWithDelay(time.Second) // the bucket is away: later
		return
	}
	if twin {
		unregister()
		msg.Ack()
		return
	}
	if final(rec.State) {
		unregister()
		if gaveUp {
			msg.TermWithReason(rec.Error)
		} else {
			msg.Ack() // cancelled while it waited, or a redelivery of a finished job
		}
		if front != nil {
			q.apply(front, rec)
		}
		return
	}
	wj.Start()
	if front != nil {
		front.update(func(s *Status) { s.State, s.Started = StateRunning, time.Now() })
	}
	mirrored := make(chan struct{})
	go func() { // every change: a sign of life to JetStream, progress to the front end
		defer close(mirrored)
		lastPreview := 0
		for {
			changed := wj.Changed()
			st := wj.Status()
			if final(st.State) {
				return
			}
			msg.InProgress()
			ev := jobEvent{State: st.State, Progress: st.Progress}
			if st.PreviewStep != lastPreview {
				lastPreview, ev.Preview = st.PreviewStep, st.Preview
			}
			if front != nil {
				front.update(func(s *Status) {
					s.Progress = st.Progress
					if ev.Preview != nil {
						s.Preview, s.PreviewStep = ev.Preview, s.PreviewStep+1
					}
				})
			} else if b, err := json.Marshal(ev); err == nil {
				q.nc.Publish(jsEventPrefix+wj.ID, b)
			}
			<-changed
		}
	}()
	if err := run(wj.ctx, wj); err != nil {
		wj.finish(nil, err)
	}
	<-mirrored
	unregister()
	st := wj.Status()

	ctx, cancel = context.WithTimeout(q.hard, 30*time.Second)
	defer cancel()
	switch {
	case st.State == StateDone:
		var images []imageRecord
		for i, im := range st.Images {
			name := fmt.Sprintf("%s/%d.png", wj.ID, i) // under the job's id: a rerun replaces, never adds
			if err := try(ctx, func(ctx context.Context) error { _, err := q.obj.PutBytes(ctx, name, im.PNG); return err }); err != nil {
				st.State, st.Err = StateFailed, fmt.Errorf("jetstream: storing image %s: %w", name, err)
				break
			}
			images = append(images, imageRecord{Object: name, Seed: im.Seed, Parameters: im.Parameters})
		}
		if st.State == StateDone {
			q.updateRecord(ctx, wj.ID, func(r *jobRecord) bool {
				r.State, r.Images, r.Ended, r.Error = StateDone, images, time.Now(), ""
				r.Log = append(r.Log, fmt.Sprintf("done by %s", q.opts.Name))
				return true
			})
			if front != nil {
				front.finish(st.Images, nil)
				q.retire(front.ID)
			}
			msg.Ack()
			return
		}
		fallthrough
	case st.State == StateFailed:
		msgErr := "failed"
		if st.Err != nil {
			msgErr = st.Err.Error()
		}
		last := attempt >= q.opts.MaxDeliver
		q.updateRecord(ctx, wj.ID, func(r *jobRecord) bool {
			r.Error = msgErr
			r.Log = append(r.Log, fmt.Sprintf("attempt %d failed on %s: %s", attempt, q.opts.Name, msgErr))
			if last {
				r.State, r.Ended = StateFailed, time.Now()
				r.Error = fmt.Sprintf("failed after %d attempts: %s", attempt, msgErr)
				r.Log = append(r.Log, r.Error)
			} else {
				r.State = StateQueued
			}
			return true
		})
		if last {
			if front != nil {
				front.finish(nil, fmt.Errorf("failed after %d attempts: %w", attempt, st.Err))
				q.retire(front.ID)
			}
			msg.TermWithReason(msgErr)
		} else {
			if front != nil {
				front.update(func(s *Status) { s.State = StateQueued })
			}
			msg.NakWithDelay(100 * time.Millisecond)
		}
	case errors.Is(st.Err, ErrClosed) && (front == nil || !front.Transient):
		// This worker stops: the job goes back to the queue for another.
		// (A transient job of this process's front end is cancelled for
		// good, below: its request has its 503.)
		_, err := q.updateRecord(ctx, wj.ID, func(r *jobRecord) bool {
			r.State = StateQueued
			r.Log = append(r.Log, fmt.Sprintf("returned by %s, which stopped", q.opts.Name))
			return true
		})
		if front != nil {
			front.finish(nil, st.Err)
		}
		if err != nil {
			msg.Nak() // still "running" in the bucket: only a redelivery may take it
		} else {
			q.requeue(ctx, msg)
		}
	default: // cancelled by its user
		q.updateRecord(ctx, wj.ID, func(r *jobRecord) bool {
			r.State, r.Ended, r.Error = StateCancelled, time.Now(), st.Err.Error()
			r.Log = append(r.Log, "cancelled while running")
			return true
		})
		if front != nil {
			front.finish(nil, st.Err)
			q.retire(front.ID)
		}
		msg.Ack()
	}
}
