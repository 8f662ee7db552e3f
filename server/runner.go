package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sdgo/sdgo/internal/atomicfile"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/vae"
)

// runner does the work of a job on the current model: it is the queue's
// RunFunc.
type runner struct {
	models    *models
	preview   *vae.TinyDecoder // TAESD for previews, or nil for the cheap latent map
	outputDir string
	metrics   *metrics

	saveMu  sync.Mutex // one writer numbers the files in outputDir at a time
	saveSeq int
}

// run generates the job's images. Cancelling ctx stops it within one step.
// A panic in the pipeline fails the job, not the server.
func (rn *runner) run(ctx context.Context, job *Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
			rn.metrics.jobs.WithLabelValues(string(StateFailed)).Inc()
			job.Finish(nil, err)
		}
	}()
	if ctx.Err() != nil { // cancelled while it waited
		err := context.Cause(ctx)
		rn.metrics.jobs.WithLabelValues(string(outcome(err))).Inc()
		job.Finish(nil, err)
		return err
	}
	lm, release := rn.models.acquire()
	defer release()
	opts := job.Options
	last := time.Now()
	opts.Progress = func(p pipeline.Progress) {
		now := time.Now()
		rn.metrics.stepSeconds.Observe(now.Sub(last).Seconds())
		last = now
		job.SetProgress(p)
	}
	opts.Step = func(_, _ int, latents *nn.Tensor) {
		if png, err := rn.renderPreview(latents); err == nil {
			job.SetPreview(png)
		}
	}
	results, err := lm.model.Generate(ctx, opts)
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	images := make([]Image, 0, len(results))
	for _, r := range results {
		png, perr := pipeline.EncodePNG(r.Image, pipeline.ParametersKey, r.Parameters)
		if perr != nil {
			err = errors.Join(err, perr)
			break
		}
		images = append(images, Image{PNG: png, Seed: r.Seed, Parameters: r.Parameters})
		if rn.outputDir != "" {
			if serr := rn.save(png, r.Seed); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}
	// Counted before the job finishes, so a client that has its reply
	// sees the job in the metrics.
	rn.metrics.images.Add(float64(len(images)))
	rn.metrics.jobs.WithLabelValues(string(outcome(err))).Inc()
	job.Finish(images, err)
	return err
}

// renderPreview draws the latents as a PNG: TAESD when loaded, else one
// pixel per latent cell through a fixed linear map (the page scales it up).
func (rn *runner) renderPreview(latents *nn.Tensor) ([]byte, error) {
	if rn.preview != nil {
		x, err := rn.preview.DecodeLatents(latents)
		if err == nil {
			if imgs, err := vae.ToImages(x); err == nil {
				return pipeline.EncodePNG(imgs[0], "", "")
			}
		}
	}
	return pipeline.EncodePNG(vae.Preview(latents), "", "")
}

// save writes one image to outputDir as NNNNN-SEED.png, never replacing a
// file: a taken number moves on to the next.
func (rn *runner) save(png []byte, seed uint64) error {
	rn.saveMu.Lock()
	defer rn.saveMu.Unlock()
	if rn.saveSeq == 0 {
		entries, _ := os.ReadDir(rn.outputDir)
		for _, e := range entries {
			var n int
			if _, err := fmt.Sscanf(e.Name(), "%05d-", &n); err == nil && n > rn.saveSeq {
				rn.saveSeq = n
			}
		}
	}
	for range 1000 {
		rn.saveSeq++
		p := filepath.Join(rn.outputDir, fmt.Sprintf("%05d-%d.png", rn.saveSeq, seed))
		err := atomicfile.Write(p, png, false)
		if err == nil || !errors.Is(err, atomicfile.ErrExists) {
			if err != nil {
				return fmt.Errorf("--output-dir: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("--output-dir %s: no free file name", rn.outputDir)
}
