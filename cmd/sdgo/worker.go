package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/server"
	"github.com/sdgo/sdgo/vae"
)

const workerUsage = `Usage: sdgo worker --nats nats://HOST:4222 [-m MODEL] [--parallel N]

Loads the model once (sd-mini when -m is absent) and runs the jobs that 'sdgo
serve --nats' front ends queue for it (its title: the file's name, or
sd-mini), until SIGINT or SIGTERM; then the running jobs finish within
--shutdown-timeout or go back to the queue. Any number of workers, on any
machines, may share a queue. See docs/deploy.md.

Flags:
`

func runWorker(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return worker(ctx, args, stdout, stderr)
}

// worker runs jobs from the queue until ctx is done.
func worker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		q                                        queueFlags
		model, tokenizer, vaePath, config, taesd string
		outputDir                                string
		parallel, threads                        int
		fp16                                     bool
		shutdownTimeout                          time.Duration
	)
	fs := newFlags("sdgo worker", stderr)
	q.add(fs, false)
	fs.StringVarP(&model, "model", "m", "", "model: single-file checkpoint or diffusers folder (default: the built-in sd-mini)")
	fs.IntVar(&parallel, "parallel", 1, "jobs run at once")
	fs.StringVar(&outputDir, "output-dir", "", "also write every image here, as NNNNN-SEED.png, never overwriting")
	fs.StringVar(&tokenizer, "tokenizer", "", "tokenizer folder or bpe_simple_vocab_16e6.txt.gz, for single-file checkpoints")
	fs.StringVar(&vaePath, "vae", "", "use this autoencoder file instead of the model's")
	fs.StringVar(&config, "config", "", "diffusers folder whose configs describe a non-standard single-file checkpoint")
	fs.BoolVar(&fp16, "fp16", false, "keep an fp32 checkpoint's weights in half precision in memory")
	fs.StringVar(&taesd, "taesd", "", "TAESD decoder weights for the per-step previews")
	fs.IntVarP(&threads, "threads", "t", 0, "threads to use (default: all CPUs)")
	fs.DurationVar(&shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long the running jobs may take before they go back to the queue")
	if err := parse(fs, workerUsage, args, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("worker: unexpected argument %q", fs.Arg(0))
	case q.url == "":
		return usagef("worker: --nats URL is required (the queue that 'sdgo serve --nats' or --nats-listen feeds)")
	case parallel < 1:
		return usagef("--parallel must be at least 1, got %d", parallel)
	case threads < 0:
		return usagef("--threads must not be negative, got %d", threads)
	}
	if err := q.check(); err != nil {
		return err
	}
	if threads > 0 {
		nn.SetThreads(threads)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	title, path, err := modelTitle(model)
	if err != nil {
		return err
	}
	loadOpts := pipeline.LoadOptions{Tokenizer: tokenizer, VAE: vaePath, Config: config, Half: fp16}
	m, err := pipeline.Load(path, loadOpts)
	if err != nil {
		return err
	}
	var preview *vae.TinyDecoder
	if taesd != "" {
		if preview, err = loadTAESD(taesd); err != nil {
			m.Close()
			return err
		}
	}
	queue, err := q.open(0)
	if err != nil {
		m.Close()
		return err
	}
	srv, err := server.NewServer(server.Config{Model: m, ModelTitle: title, Preview: preview, OutputDir: outputDir,
		Queue: queue, Logger: log})
	if err != nil {
		m.Close()
		queue.Close(context.Background())
		return err
	}
	if err := srv.StartWorkers(parallel); err != nil {
		srv.Close(context.Background())
		return err
	}
	fmt.Fprintf(stdout, "sdgo worker: %s loaded; taking its jobs from %s\n", title, q.url)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	srv.Close(sctx)
	fmt.Fprintln(stdout, "sdgo worker: stopped")
	return nil
}
