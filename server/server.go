// Package server is sdgo's HTTP service: a loaded model behind
// AUTOMATIC1111's web UI API (/sdapi/v1/…), OpenAI's images API
// (/v1/images/…), a native job API with Server-Sent Events (/api/jobs) and
// a page for the browser (/), with a first-in-first-out job queue, limits,
// Prometheus metrics and one log line per request.
//
//	srv, err := server.NewServer(server.Config{Model: m, ModelTitle: "sd-mini"})
//	…
//	http.ListenAndServe("127.0.0.1:7860", srv)
//	srv.Close(ctx) // stop taking jobs, finish or cancel the running ones
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/vae"
)

// Config configures a Server. Model is required; every other field has a
// working zero value.
type Config struct {
	// Model is the loaded model; the server owns it from now on and closes
	// it (Close, or when switched away from). ModelTitle names it in
	// /sdapi/v1/sd-models and options (BuiltinModel for sd-mini).
	Model      *pipeline.Model
	ModelTitle string
	// ModelsDir holds the checkpoints /sdapi/v1/options may switch to;
	// Load loads one (default: pipeline.Load with no options).
	ModelsDir string
	Load      func(path string) (*pipeline.Model, error)
	// ModelLoadSeconds is how long Model took to load, for the metrics.
	ModelLoadSeconds float64

	// Preview, when set, renders the per-step previews with TAESD.
	Preview *vae.TinyDecoder
	// OutputDir, when set, receives every image too, written atomically
	// as NNNNN-SEED.png, never overwriting.
	OutputDir string
	// APIKey, when set, is required as "Authorization: Bearer KEY" on every
	// route but /, /healthz and /readyz.
	APIKey string

	Limits Limits
	// Parallel is how many jobs run at once (default 1); QueueSize how many
	// may wait (default 16). Queue, when set, replaces the in-process queue
	// (a distributed one); the server then does not start workers.
	Parallel, QueueSize int
	Queue               Queue
	// DataDir, when Queue is nil, is where the embedded NATS server keeps
	// the queue (JetStream file storage); "" keeps it in memory.
	DataDir string

	// Estimate, when set, estimates a job's peak memory in bytes; a job
	// whose estimate exceeds MaxMemory (when > 0) is refused with the
	// estimate in the message.
	Estimate  func(*pipeline.Model, pipeline.Options) (int64, error)
	MaxMemory int64

	// Logger gets one line per request (default: discard).
	Logger *slog.Logger
}

// Server serves the APIs and the page. It is an http.Handler.
type Server struct {
	cfg     Config
	lim     Limits
	models  *models
	queue   Queue
	runner  *runner
	metrics *metrics
	log     *slog.Logger
	mux     *http.ServeMux
	started time.Time

	exploring sync.Mutex    // held by the running exploration (POST /api/explore)
	slots     chan struct{} // in-process workers' places (StartWorkers)
}

// StartWorkers starts n workers in this process on the server's
// JetStream queue: they run the jobs of whichever model the server has
// loaded (a switch starts taking that model's jobs), at most n at once.
func (s *Server) StartWorkers(n int) error {
	q, ok := s.queue.(*JetStreamQueue)
	if !ok {
		return errors.New("server: workers need a JetStream queue")
	}
	if n <= 0 {
		return nil
	}
	s.slots = make(chan struct{}, n)
	return q.work(s.models.title(), n, s.slots, s.runner.run)
}

// ensureWorkers makes the in-process workers take model's jobs too.
func (s *Server) ensureWorkers(model string) error {
	if q, ok := s.queue.(*JetStreamQueue); ok && s.slots != nil {
		return q.work(model, cap(s.slots), s.slots, s.runner.run)
	}
	return nil
}

// NewServer returns a server for cfg, with its queue's workers started.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Model == nil {
		return nil, errors.New("server: no model")
	}
	if cfg.ModelTitle == "" {
		cfg.ModelTitle = cfg.Model.Name
	}
	if cfg.Load == nil {
		cfg.Load = func(path string) (*pipeline.Model, error) { return pipeline.Load(path, pipeline.LoadOptions{}) }
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 16
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	s := &Server{cfg: cfg, lim: cfg.Limits.withDefaults(), log: cfg.Logger, started: time.Now()}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.metrics = newMetrics(func() QueueStats { return s.queue.Stats() })
	s.metrics.loadSeconds.Set(cfg.ModelLoadSeconds)
	s.models = &models{dir: cfg.ModelsDir, load: cfg.Load, metrics: s.metrics,
		cur: &loadedModel{title: cfg.ModelTitle, model: cfg.Model, defaultCFG: defaultCFGFor(cfg.ModelTitle)}}
	s.runner = &runner{models: s.models, preview: cfg.Preview, outputDir: cfg.OutputDir, metrics: s.metrics}
	s.queue = cfg.Queue
	if s.queue == nil {
		// One path: the default is a JetStream queue on a NATS server
		// embedded in this process, with Parallel workers here.
		q, err := NewEmbeddedQueue(cfg.DataDir, "", JetStreamOptions{Capacity: cfg.QueueSize, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		s.queue = q
		if err := s.StartWorkers(cfg.Parallel); err != nil {
			q.Close(context.Background())
			return nil, err
		}
	}
	s.mux = http.NewServeMux()
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler. Requests that match no route (404,
// 405) get their log line here; the routes log their own (see handle).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s.mux.ServeHTTP(sw, r)
	s.log.Info("request", "method", r.Method, "route", "", "status", sw.status, "duration", time.Since(start).Round(time.Microsecond))
}

// Run is the work of one job on the server's current model, for a queue
// given in Config.Queue to call.
func (s *Server) Run(ctx context.Context, job *Job) error { return s.runner.run(ctx, job) }

// Close stops taking jobs, lets the running ones finish until ctx is done
// (then cancels them), and closes the model.
func (s *Server) Close(ctx context.Context) error {
	err := s.queue.Close(ctx)
	s.models.close()
	return err
}
