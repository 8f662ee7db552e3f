package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/server"
	"github.com/sdgo/sdgo/vae"
)

const serveUsage = `Usage: sdgo serve [-m MODEL] [--listen 127.0.0.1:7860] [--models-dir DIR] [--output-dir DIR]
       sdgo serve --nats nats://HOST:4222 --workers 0   (a front end for outside workers)

Loads the model once (sd-mini when -m is absent) and serves it until SIGINT or
SIGTERM: a page for the browser at /, AUTOMATIC1111's API (/sdapi/v1/...),
OpenAI's images API (/v1/images/...), /healthz, /readyz and /metrics. See
docs/serve.md. It listens on loopback unless told otherwise; any other address
needs --api-key KEY (clients send "Authorization: Bearer KEY") or --no-auth.
Jobs go through a NATS JetStream queue: embedded in this process by default
(stored under --data-dir), or shared with 'sdgo worker's with --nats URL.

Flags:
`

func runServe(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, stdout, stderr)
}

// serveFlags holds the serve command's flag values.
type serveFlags struct {
	model, listen, modelsDir, outputDir, apiKey, maxMemory string
	tokenizer, vaePath, config, taesd                      string
	loraDir, embdDir                                       string
	noAuth, fp16                                           bool
	parallel, queueSize, threads                           int
	shutdownTimeout                                        time.Duration
	limits                                                 server.Limits
	maxBodyMB                                              int
	queue                                                  queueFlags
	workers                                                int
}

// serve runs the server until ctx is done, then shuts it down gracefully.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlags("sdgo serve", stderr)
	fs.StringVarP(&f.model, "model", "m", "", "model: single-file checkpoint or diffusers folder (default: the built-in sd-mini)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:7860", "address to listen on (HOST:PORT; port 0 picks a free one)")
	fs.StringVar(&f.modelsDir, "models-dir", "", "folder of checkpoints that clients may switch to (/sdapi/v1/options)")
	fs.StringVar(&f.outputDir, "output-dir", "", "also write every image here, as NNNNN-SEED.png, never overwriting")
	fs.StringVar(&f.apiKey, "api-key", "", "require \"Authorization: Bearer KEY\" on the APIs (default: $SDGO_API_KEY)")
	fs.BoolVar(&f.noAuth, "no-auth", false, "allow a non-loopback --listen without an API key")
	fs.IntVar(&f.parallel, "parallel", 1, "jobs run at once")
	fs.IntVar(&f.queueSize, "queue-size", 16, "jobs that may wait; past that, requests get 503 with Retry-After")
	fs.StringVar(&f.maxMemory, "max-memory", "", "refuse jobs whose estimated peak memory, model included, exceeds this (e.g. 6G, 800M; default: the machine's available memory at start)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long the running job may take to finish before it is cancelled")
	fs.IntVar(&f.limits.MaxWidth, "max-width", server.DefaultLimits.MaxWidth, "largest width a request may ask for")
	fs.IntVar(&f.limits.MaxHeight, "max-height", server.DefaultLimits.MaxHeight, "largest height a request may ask for")
	fs.IntVar(&f.limits.MaxSteps, "max-steps", server.DefaultLimits.MaxSteps, "most steps a request may ask for")
	fs.IntVar(&f.limits.MaxBatch, "max-batch", server.DefaultLimits.MaxBatch, "most images per request (batch_size × n_iter)")
	fs.IntVar(&f.maxBodyMB, "max-body", int(server.DefaultLimits.MaxBody>>20), "largest request body, in MB")
	fs.IntVar(&f.limits.MaxImageSide, "max-image-side", server.DefaultLimits.MaxImageSide, "largest width or height of an input image")
	fs.StringVar(&f.loraDir, "lora-model-dir", "", "folder of LoRA/LyCORIS files that prompts name as <lora:NAME:W> (listed by /sdapi/v1/loras)")
	fs.StringVar(&f.embdDir, "embd-dir", "", "folder of textual-inversion embeddings; their file names are trigger words in prompts")
	fs.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer folder or bpe_simple_vocab_16e6.txt.gz, for single-file checkpoints")
	fs.StringVar(&f.vaePath, "vae", "", "use this autoencoder file instead of the model's")
	fs.StringVar(&f.config, "config", "", "diffusers folder whose configs describe a non-standard single-file checkpoint")
	fs.BoolVar(&f.fp16, "fp16", false, "keep an fp32 checkpoint's weights in half precision in memory")
	fs.StringVar(&f.taesd, "taesd", "", "TAESD decoder weights for the per-step previews")
	fs.IntVarP(&f.threads, "threads", "t", 0, "threads to use (default: all CPUs)")
	f.queue.add(fs, true)
	fs.IntVar(&f.workers, "workers", -1, "workers in this process (default: --parallel; 0: a front end only, outside workers run the jobs)")
	if err := parse(fs, serveUsage, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve: unexpected argument %q", fs.Arg(0))
	}
	if f.apiKey == "" {
		f.apiKey = os.Getenv("SDGO_API_KEY")
	}
	maxMemory, err := f.validate()
	if err != nil {
		return err
	}
	if err := f.queue.check(); err != nil {
		return err
	}
	if f.threads > 0 {
		nn.SetThreads(f.threads)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	loadOpts := pipeline.LoadOptions{Tokenizer: f.tokenizer, VAE: f.vaePath, Config: f.config, Half: f.fp16,
		LoraDir: f.loraDir, EmbeddingDir: f.embdDir}
	title, path := filepath.Base(f.model), f.model
	if f.model == "" {
		if path, err = sdmini.Path(); err != nil {
			return fmt.Errorf("no -m/--model given, and %w", err)
		}
		title = server.BuiltinModel
	} else if f.modelsDir != "" {
		if rel, err := filepath.Rel(f.modelsDir, f.model); err == nil && !strings.HasPrefix(rel, "..") {
			title = filepath.ToSlash(rel)
		}
	}
	if maxMemory == 0 { // what the machine can give the process, taken before the model is loaded
		if n, _, ok := machineMemory(); ok {
			maxMemory = n
		}
	}
	start := time.Now()
	model, err := pipeline.Load(path, loadOpts)
	if err != nil {
		return err
	}
	loadSeconds := time.Since(start).Seconds()
	tuneGC(model)
	var preview *vae.TinyDecoder
	if f.taesd != "" {
		if preview, err = loadTAESD(f.taesd); err != nil {
			model.Close()
			return err
		}
	}
	lim := f.limits
	lim.MaxBody = int64(f.maxBodyMB) << 20
	queue, err := f.queue.open(f.queueSize)
	if err != nil {
		model.Close()
		return err
	}
	srv, err := server.NewServer(server.Config{Queue: queue,
		Model: model, ModelTitle: title, ModelLoadSeconds: loadSeconds, ModelsDir: f.modelsDir,
		Load:    func(p string) (*pipeline.Model, error) { return pipeline.Load(p, loadOpts) },
		Preview: preview, OutputDir: f.outputDir, APIKey: f.apiKey, Limits: lim,
		Parallel: f.parallel, QueueSize: f.queueSize, MaxMemory: maxMemory, Estimate: estimatePeak, Logger: log,
	})
	if err != nil {
		model.Close()
		queue.Close(context.Background())
		return err
	}
	if f.workers < 0 {
		f.workers = f.parallel
	}
	if err := srv.StartWorkers(f.workers); err != nil {
		srv.Close(context.Background())
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		srv.Close(context.Background())
		return fmt.Errorf("--listen: %w", err)
	}
	fmt.Fprintf(stdout, "sdgo serve: %s loaded in %.1fs; listening on http://%s\n", title, loadSeconds, ln.Addr())
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	select {
	case err := <-serveErr:
		srv.Close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Stop taking jobs, let the running ones finish within the timeout
	// (then cancel them), and close the connections as their replies end.
	log.Info("shutting down", "timeout", f.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- srv.Close(sctx) }()
	hctx, hcancel := context.WithTimeout(context.Background(), f.shutdownTimeout+5*time.Second)
	defer hcancel()
	if err := hs.Shutdown(hctx); err != nil {
		hs.Close()
	}
	if err := <-closed; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Fprintln(stdout, "sdgo serve: stopped")
	return nil
}

// validate checks the flags, naming the bad one, and returns --max-memory
// in bytes (0: not given).
func (f *serveFlags) validate() (int64, error) {
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return 0, usagef("--listen: want HOST:PORT, got %q", f.listen)
	}
	if !isLoopback(host) && f.apiKey == "" && !f.noAuth {
		return 0, usagef("--listen %s is reachable from other machines: pass --api-key KEY (or --no-auth to serve without one)", f.listen)
	}
	switch {
	case f.parallel < 1:
		return 0, usagef("--parallel must be at least 1, got %d", f.parallel)
	case f.queueSize < 1:
		return 0, usagef("--queue-size must be at least 1, got %d", f.queueSize)
	case f.shutdownTimeout < 0:
		return 0, usagef("--shutdown-timeout must not be negative, got %v", f.shutdownTimeout)
	case f.threads < 0:
		return 0, usagef("--threads must not be negative, got %d", f.threads)
	case f.maxBodyMB < 1:
		return 0, usagef("--max-body must be at least 1 (MB), got %d", f.maxBodyMB)
	}
	for _, l := range []struct {
		flag string
		v    int
	}{{"--max-width", f.limits.MaxWidth}, {"--max-height", f.limits.MaxHeight}, {"--max-steps", f.limits.MaxSteps}, {"--max-batch", f.limits.MaxBatch}, {"--max-image-side", f.limits.MaxImageSide}} {
		if l.v < 1 {
			return 0, usagef("%s must be at least 1, got %d", l.flag, l.v)
		}
	}
	for _, p := range []struct{ flag, path string }{{"-m/--model", f.model}, {"--models-dir", f.modelsDir}, {"--output-dir", f.outputDir}, {"--vae", f.vaePath}, {"--taesd", f.taesd}, {"--tokenizer", f.tokenizer}, {"--config", f.config}, {"--lora-model-dir", f.loraDir}, {"--embd-dir", f.embdDir}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			return 0, usagef("%s: %v", p.flag, err)
		}
	}
	for _, d := range []struct{ flag, path string }{{"--models-dir", f.modelsDir}, {"--output-dir", f.outputDir}, {"--lora-model-dir", f.loraDir}, {"--embd-dir", f.embdDir}} {
		if st, err := os.Stat(d.path); d.path != "" && err == nil && !st.IsDir() {
			return 0, usagef("%s: %s is not a folder", d.flag, d.path)
		}
	}
	if f.maxMemory == "" {
		return 0, nil
	}
	n, err := parseBytes(f.maxMemory)
	if err != nil {
		return 0, usagef("--max-memory %q: %v", f.maxMemory, err)
	}
	return n, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// estimatePeak is the server's memory check: the process's estimated peak
// with the job, the model's weights included (pipeline.EstimateMemory, the
// same estimate the generate command refuses with).
func estimatePeak(m *pipeline.Model, o pipeline.Options) (int64, error) {
	e, err := pipeline.EstimateMemory(m, o)
	return e.Peak, err
}
