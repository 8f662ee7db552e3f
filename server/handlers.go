package server

import (
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

//go:embed static/index.html
var static embed.FS

func (s *Server) page(w http.ResponseWriter, r *http.Request) error {
	b, err := static.ReadFile("static/index.html")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
	w.Write(b)
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	st := s.queue.Stats()
	if st.Waiting >= st.Capacity {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "queue full", "waiting": st.Waiting})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true, "model": s.models.title(), "waiting": st.Waiting, "running": st.Running})
	return nil
}

// apiInfo tells the page the model and the limits.
func (s *Server) apiInfo(w http.ResponseWriter, r *http.Request) error {
	lm, release := s.models.acquire()
	defer release()
	writeJSON(w, http.StatusOK, map[string]any{
		"model": lm.title, "native_size": lm.model.NativeSize(), "size_multiple": lm.model.VAEFactor(),
		"default_cfg": lm.defaultCFG, "samplers": samplerList,
		"limits": map[string]any{"max_width": s.lim.MaxWidth, "max_height": s.lim.MaxHeight, "max_steps": s.lim.MaxSteps, "max_batch": s.lim.MaxBatch},
	})
	return nil
}

func emptyList(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, []any{})
	return nil
}

// defaultCFG is the guidance scale for requests that name none: the current
// model's (sd-mini's is lower than A1111's 7).
func (s *Server) defaultCFG() float64 {
	lm, release := s.models.acquire()
	defer release()
	return lm.defaultCFG
}

// submit validates g against the current model and queues it. A
// synchronous request (the reply waits for the images) without an
// Idempotency-Key makes a transient job (see Job.Transient).
func (s *Server) submit(r *http.Request, g *genRequest, synchronous bool) (*Job, error) {
	lm, release := s.models.acquire()
	opts, err := g.options(s.lim, lm.model)
	if err == nil && s.cfg.Estimate != nil && s.cfg.MaxMemory > 0 {
		need, eerr := s.cfg.Estimate(lm.model, opts)
		switch {
		case eerr != nil:
			err = fmt.Errorf("estimating the job's memory: %w", eerr)
		case need > s.cfg.MaxMemory:
			err = &httpError{status: http.StatusBadRequest, err: &fieldError{Field: "width", Msg: fmt.Sprintf(
				"this job needs an estimated %d MiB at its peak (model included), more than the %d MiB the server allows (--max-memory); make the image smaller or the batch shorter",
				need>>20, s.cfg.MaxMemory>>20)}}
		}
	}
	release()
	if err != nil {
		return nil, err
	}
	job := NewJob(r.Context(), opts)
	job.Model = s.models.title()
	if err := s.ensureWorkers(job.Model); err != nil {
		return nil, err
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		job.Key, job.ID = key, IDForKey(key)
	}
	job.Transient = synchronous && job.Key == ""
	if err := s.queue.Submit(job); err != nil {
		s.metrics.jobs.WithLabelValues("rejected").Inc()
		return nil, &httpError{status: http.StatusServiceUnavailable, err: err, header: map[string]string{"Retry-After": "5"}}
	}
	if j, ok := s.queue.Job(job.ID); ok { // a retried Idempotency-Key: the first job
		job = j
	}
	noteJob(r, job.ID)
	return job, nil
}

// wait waits for job to finish; a client that goes away cancels it.
func wait(r *http.Request, job *Job) (Status, error) {
	select {
	case <-job.Done():
		return job.Status(), nil
	case <-r.Context().Done():
		job.cancelWith(errDisconnect)
		<-job.Done()
		return job.Status(), errDisconnect
	}
}

// jobImage is one image in a native reply.
type jobImage struct {
	PNG        string `json:"png"` // base64
	Seed       uint64 `json:"seed"`
	Parameters string `json:"parameters"`
}

// jobView is the JSON form of a job's status.
type jobView struct {
	ID       string     `json:"id"`
	State    JobState   `json:"state"`
	Image    int        `json:"image"`
	Images   int        `json:"images"`
	Step     int        `json:"step"`
	Steps    int        `json:"steps"`
	Progress float64    `json:"progress"`
	ETA      float64    `json:"eta_seconds"`
	Error    string     `json:"error,omitempty"`
	Results  []jobImage `json:"results,omitempty"`
}

func viewJob(j *Job, st Status) jobView {
	v := jobView{ID: j.ID, State: st.State, Image: st.Progress.Image, Images: st.Progress.Images, Step: st.Progress.Step,
		Steps: st.Progress.Steps, Progress: st.Fraction(), ETA: st.ETA().Seconds()}
	if st.Err != nil {
		v.Error = st.Err.Error()
	}
	for _, im := range st.Images {
		v.Results = append(v.Results, jobImage{PNG: base64.StdEncoding.EncodeToString(im.PNG), Seed: im.Seed, Parameters: im.Parameters})
	}
	return v
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) error {
	g := newGenRequest(s.defaultCFG())
	if err := decodeJSON(w, r, s.lim.MaxBody, &g); err != nil {
		return err
	}
	job, err := s.submit(r, &g, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": job.ID, "state": StateQueued, "seed": g.Seed,
		"width": g.Width, "height": g.Height, "events": "/api/jobs/" + job.ID + "/events"})
	return nil
}

func (s *Server) lookup(r *http.Request) (*Job, error) {
	id := r.PathValue("id")
	noteJob(r, id)
	j, ok := s.queue.Job(id)
	if !ok {
		return nil, statusError(http.StatusNotFound, "no job %q", id)
	}
	return j, nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.lookup(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewJob(j, j.Status()))
	return nil
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.lookup(r)
	if err != nil {
		return err
	}
	j.Cancel()
	writeJSON(w, http.StatusOK, map[string]any{"id": j.ID, "cancelled": true})
	return nil
}

// jobEvents streams a job's progress as Server-Sent Events: "state",
// "queued" (how many jobs are ahead, while it waits), "step", "preview" (a
// data: URL), then "done" (the images) or "error". A
// client that goes away before the end cancels the job.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	j, err := s.lookup(r)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	var lastState JobState
	lastStep, lastPreview, lastAhead := -1, 0, -1
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	// While the job waits, its place in the queue is sent when it changes
	// (other jobs' progress does not wake this loop: a ticker does).
	ahead, _ := s.queue.(interface{ Ahead(id string) int })
	recheck := time.NewTicker(500 * time.Millisecond)
	defer recheck.Stop()
	for {
		changed := j.Changed()
		st := j.Status()
		v := viewJob(j, Status{State: st.State, Progress: st.Progress, Err: st.Err})
		if st.State != lastState {
			lastState = st.State
			if err := send("state", map[string]any{"id": j.ID, "state": st.State}); err != nil {
				return nil
			}
		}
		if st.State == StateQueued && ahead != nil {
			if n := ahead.Ahead(j.ID); n != lastAhead {
				lastAhead = n
				if err := send("queued", map[string]any{"id": j.ID, "ahead": n}); err != nil {
					return nil
				}
			}
		}
		if n := st.Progress.Image*st.Progress.Steps + st.Progress.Step; n != lastStep && st.State != StateQueued {
			lastStep = n
			if err := send("step", v); err != nil {
				return nil
			}
		}
		if st.PreviewStep != lastPreview && st.Preview != nil {
			lastPreview = st.PreviewStep
			if err := send("preview", map[string]any{"image": "data:image/png;base64," + base64.StdEncoding.EncodeToString(st.Preview)}); err != nil {
				return nil
			}
		}
		switch st.State {
		case StateDone:
			send("done", viewJob(j, st))
			return nil
		case StateFailed, StateCancelled:
			send("error", viewJob(j, st))
			return nil
		}
		select {
		case <-changed:
		case <-recheck.C:
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				j.cancelWith(errDisconnect)
				return nil
			}
		case <-r.Context().Done():
			j.cancelWith(errDisconnect)
			return nil
		}
	}
}
