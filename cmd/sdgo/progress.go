package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sdgo/sdgo/pipeline"
)

// progressBar draws "image 1/2 step 5/20 [=====>     ] 1.20 s/it ETA 18s" on
// stderr when it is a terminal, and stays quiet otherwise.
type progressBar struct {
	w       io.Writer
	on      bool
	last    time.Time
	started time.Time
	drawn   bool
}

func newProgressBar(w io.Writer, quiet bool) *progressBar {
	on := false
	if f, ok := w.(*os.File); ok && !quiet {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progressBar{w: w, on: on, started: time.Now()}
}

func (b *progressBar) update(p pipeline.Progress) {
	if !b.on {
		return
	}
	const width = 30
	done := p.Image*p.Steps + p.Step
	total := p.Images * p.Steps
	rate := p.Elapsed.Seconds() / float64(max(done, 1))
	eta := time.Duration(rate * float64(total-done) * float64(time.Second)).Round(time.Second)
	fill := width * p.Step / max(p.Steps, 1)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	img := ""
	if p.Images > 1 {
		img = fmt.Sprintf("image %d/%d ", p.Image+1, p.Images)
	}
	fmt.Fprintf(b.w, "\r%sstep %d/%d [%s] %.2f s/it ETA %v   ", img, p.Step, p.Steps, bar, rate, eta)
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
