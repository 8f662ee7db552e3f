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
			var idle time.Duration
			for q.ctx.Err() == nil {
				select {
				case slots <- struct{}{}:
				case <-q.ctx.Done():
					return
				}
				// FetchNoWait, polled with a backoff while idle: a waiting
				// pull request that expires as a message reaches it would
				// leave that message unacknowledged until AckWait.
				var msg jetstream.Msg
				batch, err := cons.FetchNoWait(1)
				if err == nil {
					for m := range batch.Messages() {
						msg = m
					}
					err = batch.Error()
				}
				if msg == nil {
					<-slots
					idle = min(max(2*idle, 5*time.Millisecond), 250*time.Millisecond)
					if err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
						idle = time.Second // the server is away: it comes back
					}
					select {
					case <-time.After(idle):
					case <-q.ctx.Done():
					}
					continue
				}
				idle = 0
				q.handle(msg, run)
				<-slots
			}
		}()
	}
	return nil
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	attempt := int(meta.NumDelivered)
	var gaveUp bool
	rec, err := q.updateRecord(ctx, sp.ID, func(r *jobRecord) bool {
		if final(r.State) {
			return false
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
		msg.NakWithDelay(time.Second) // the bucket is away: later
		return
	}
	if final(rec.State) {
		if gaveUp {
			msg.TermWithReason(rec.Error)
		} else {
			msg.Ack() // cancelled while it waited, or a redelivery of a finished job
		}
		return
	}

	// The worker's own job; a front end in this process sees it through
	// its own Job, mirrored below.
	q.mu.Lock()
	var front *Job
	if jj := q.jobs[sp.ID]; jj != nil && !final(jj.job.State()) {
		front = jj.job
		opts = front.Options // with what does not travel (a decoder, hooks)
	}
	q.mu.Unlock()
	wj := NewJob(context.Background(), opts)
	wj.ID, wj.Model, wj.Created = sp.ID, sp.Model, sp.Created
	q.mu.Lock()
	q.running[wj.ID] = wj
	q.mu.Unlock()
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
	q.mu.Lock()
	delete(q.running, wj.ID)
	q.mu.Unlock()
	st := wj.Status()

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch {
	case st.State == StateDone:
		var images []imageRecord
		for i, im := range st.Images {
			name := fmt.Sprintf("%s/%d.png", wj.ID, i) // under the job's id: a rerun replaces, never adds
			if _, err := q.obj.PutBytes(ctx, name, im.PNG); err != nil {
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
	case errors.Is(st.Err, ErrClosed):
		// This worker stops: the job goes back to the queue for another.
		q.updateRecord(ctx, wj.ID, func(r *jobRecord) bool {
			r.State = StateQueued
			r.Log = append(r.Log, fmt.Sprintf("returned by %s, which stopped", q.opts.Name))
			return true
		})
		if front != nil {
			front.finish(nil, st.Err)
		}
		msg.Nak()
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
