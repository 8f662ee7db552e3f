package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sdgo/sdgo/internal/atomicfile"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/server"
)

const batchUsage = `Usage: sdgo batch --nats URL   [-m MODEL] requests.jsonl --out DIR
       sdgo batch --embedded [-m MODEL] [--workers N] requests.jsonl --out DIR

Runs one AUTOMATIC1111 txt2img request (a JSON object, as POST
/sdapi/v1/txt2img takes it) per line of requests.jsonl through the JetStream
queue and writes line N's image as DIR/0000N.png (0000N-K.png for a batch of
several) with DIR/0000N.json (its job, seeds, state and error). It queues
only the lines not done yet, so a batch that was interrupted resumes where it
was when run again; a failed line is tried again on the next run. A blank
line is skipped. The exit status is 1 when any line failed.

With --nats the jobs go to a shared queue, run by 'sdgo worker's (or 'sdgo
serve' processes) that have MODEL loaded (-m names it as they do: its file
name, or sd-mini by default). With --embedded the queue is a NATS server in
this process (kept under --data-dir) and --workers workers here run the jobs
on -m. See docs/deploy.md.

Flags:
`

func runBatch(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return batch(ctx, args, stdout, stderr)
}

// batchLine is one line of the requests file.
type batchLine struct {
	n    int    // 1-based line number
	body []byte // the JSON object
	opts pipeline.Options
	err  error // a bad line
}

// batchResult is the small JSON file written beside a line's images.
type batchResult struct {
	Line    int      `json:"line"`
	Job     string   `json:"job"`
	State   string   `json:"state"`
	Attempt int      `json:"attempt"` // runs of this batch that queued the line
	Seeds   []uint64 `json:"seeds,omitempty"`
	Images  []string `json:"images,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// batchKey is the idempotency key of a line: its number and content, and
// the attempt (a line that failed is queued afresh on the next run).
func batchKey(l batchLine, attempt int) string {
	h := sha256.New()
	fmt.Fprintf(h, "sdgo batch\x00%d\x00%d\x00", l.n, attempt)
	h.Write(l.body)
	return "batch-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// readBatch reads the requests file: one JSON object per line.
func readBatch(path string) ([]batchLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []batchLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		body := bytes.TrimSpace(sc.Bytes())
		if len(body) == 0 {
			continue
		}
		lines = append(lines, batchLine{n: n, body: bytes.Clone(body)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: line %d: %w", path, len(lines)+1, err)
	}
	return lines, nil
}

// batch runs the requests file until every line is done or failed, or ctx
// ends (then the queued jobs stay queued for the next run).
func batch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		q               queueFlags
		model, out      string
		embedded        bool
		workers, thread int
	)
	fs := newFlags("sdgo batch", stderr)
	q.add(fs, true)
	fs.BoolVar(&embedded, "embedded", false, "run the queue and its workers in this process (instead of --nats)")
	fs.StringVarP(&model, "model", "m", "", "model the jobs are for: with --embedded, the checkpoint or diffusers folder to load; with --nats, as the workers name it (default: sd-mini)")
	fs.StringVar(&out, "out", "", "folder for the images and per-line results (created if missing)")
	fs.IntVar(&workers, "workers", 1, "with --embedded: workers in this process")
	fs.IntVarP(&thread, "threads", "t", 0, "threads to use (default: all CPUs)")
	if err := parse(fs, batchUsage, args, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 1:
		return usagef("batch: want one requests file (JSON lines), got %d arguments", fs.NArg())
	case embedded == (q.url != ""):
		return usagef("batch: give either --nats URL (a shared queue) or --embedded (a queue in this process)")
	case out == "":
		return usagef("batch: --out DIR is required")
	case workers < 1:
		return usagef("--workers must be at least 1, got %d", workers)
	case thread < 0:
		return usagef("--threads must not be negative, got %d", thread)
	}
	if err := q.check(); err != nil {
		return err
	}
	if thread > 0 {
		nn.SetThreads(thread)
	}
	path := fs.Arg(0)
	lines, err := readBatch(path)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	title, modelPath, err := modelTitle(model)
	if err != nil {
		return err
	}

	var m *pipeline.Model // to check the lines against, and run them with --embedded
	if embedded {
		if m, err = pipeline.Load(modelPath, pipeline.LoadOptions{}); err != nil {
			return err
		}
		tuneGC(m)
	}
	for i := range lines {
		l := &lines[i]
		sum := sha256.Sum256(l.body)
		seed := binary.LittleEndian.Uint32(sum[:4]) // seed -1: one that stays across runs
		if l.opts, l.err = server.ParseTxt2Img(l.body, title, m, seed); l.err != nil {
			l.err = fmt.Errorf("%s:%d: %w", path, l.n, l.err)
		}
	}

	queue, err := q.open(1 << 30) // the batch's own jobs are never refused for room
	if err != nil {
		if m != nil {
			m.Close()
		}
		return err
	}
	closeQueue := func() { queue.Close(context.Background()) }
	if embedded {
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		srv, err := server.NewServer(server.Config{Model: m, ModelTitle: title, Queue: queue, Logger: log})
		if err != nil {
			m.Close()
			closeQueue()
			return err
		}
		if err := srv.StartWorkers(workers); err != nil {
			srv.Close(context.Background())
			return err
		}
		closeQueue = func() {
			// At once: the running jobs go back to the queue for the next run.
			cctx, cancel := context.WithTimeout(context.Background(), 0)
			defer cancel()
			srv.Close(cctx)
		}
	}
	defer closeQueue()
	return runLines(ctx, queue, title, lines, out, stdout, stderr)
}

// modelTitle is the title and path of -m: the file's name, or sd-mini's.
func modelTitle(model string) (title, path string, err error) {
	if model != "" {
		return filepath.Base(model), model, nil
	}
	if path, err = sdmini.Path(); err != nil {
		return "", "", fmt.Errorf("no -m/--model given, and %w", err)
	}
	return server.BuiltinModel, path, nil
}

// runLines queues the lines not done yet and writes their results as
// they finish.
func runLines(ctx context.Context, queue *server.JetStreamQueue, title string, lines []batchLine, out string, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the waiters below end with the run
	p := newBatchProgress(stdout, len(lines))
	type finished struct {
		l       batchLine
		attempt int
		job     *server.Job
	}
	results := make(chan finished)
	pending := 0
	for _, l := range lines {
		prev, done := readResult(out, l.n)
		if done {
			p.skipped++
			continue
		}
		if l.err != nil {
			fmt.Fprintf(stderr, "sdgo batch: %v\n", l.err)
			p.failed++
			continue
		}
		attempt := prev.Attempt
		if prev.State != "" { // failed last time: afresh
			attempt++
		}
		attempt = max(attempt, 1)
		key := batchKey(l, attempt)
		j := server.NewJob(context.Background(), l.opts)
		j.Key, j.ID, j.Model = key, server.IDForKey(key), title
		var err error
		for try := 0; ; try++ {
			if err = queue.Submit(j); err == nil || !errors.Is(err, server.ErrQueueFull) || try == 100 {
				break
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				err = ctx.Err()
			}
			if ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("batch: line %d: %w", l.n, err)
		}
		if first, ok := queue.Job(j.ID); ok { // queued by an earlier run: that job
			j = first
		}
		pending++
		go func() {
			select {
			case <-j.Done():
			case <-ctx.Done():
				return
			}
			select {
			case results <- finished{l, attempt, j}:
			case <-ctx.Done():
			}
		}()
	}
	p.left = pending
	p.print(false)
	for pending > 0 {
		var f finished
		select {
		case f = <-results:
		case <-ctx.Done():
			p.print(true)
			return fmt.Errorf("batch: interrupted with %d lines left; run again to resume", pending)
		}
		pending--
		p.left--
		st := f.job.Status()
		if errors.Is(st.Err, server.ErrClosed) {
			continue // this process stops: the job stays queued
		}
		if err := writeResult(out, f.l.n, f.attempt, f.job.ID, st); err != nil {
			return err
		}
		if st.State == server.StateDone {
			p.done++
			p.images += len(st.Images)
		} else {
			p.failed++
			fmt.Fprintf(stderr, "sdgo batch: line %d: %v\n", f.l.n, st.Err)
		}
		p.print(false)
	}
	p.print(true)
	if p.failed > 0 {
		return fmt.Errorf("batch: %d of %d lines failed (see the errors above); run again to retry them", p.failed, len(lines))
	}
	return nil
}

// resultName is the stem of line n's files in the output folder.
func resultName(n int) string { return fmt.Sprintf("%05d", n) }

// readResult reads line n's result file, and whether the line is done
// (its images all there).
func readResult(out string, n int) (batchResult, bool) {
	var r batchResult
	b, err := os.ReadFile(filepath.Join(out, resultName(n)+".json"))
	if err != nil || json.Unmarshal(b, &r) != nil {
		return batchResult{}, false
	}
	if r.State != string(server.StateDone) {
		return r, false
	}
	for _, im := range r.Images {
		if _, err := os.Stat(filepath.Join(out, im)); err != nil {
			return r, false
		}
	}
	return r, true
}

// writeResult writes a finished line's images, then its result file (so
// a result file that says done means the images are there).
func writeResult(out string, n, attempt int, id string, st server.Status) error {
	r := batchResult{Line: n, Job: id, State: string(st.State), Attempt: attempt}
	if st.Err != nil {
		r.Error = st.Err.Error()
	}
	for i, im := range st.Images {
		name := resultName(n) + ".png"
		if len(st.Images) > 1 {
			name = fmt.Sprintf("%s-%d.png", resultName(n), i+1)
		}
		// The line's own name: a file there is an earlier, unfinished
		// try at this same line.
		if err := atomicfile.Write(filepath.Join(out, name), im.PNG, true); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		r.Images, r.Seeds = append(r.Images, name), append(r.Seeds, im.Seed)
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := atomicfile.Write(filepath.Join(out, resultName(n)+".json"), append(b, '\n'), true); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// batchProgress reports the batch's progress: one line rewritten in place
// on a terminal, else a plain line per change.
type batchProgress struct {
	w                                  io.Writer
	tty                                bool
	total, skipped, done, failed, left int
	images                             int
	start                              time.Time
	lastLen                            int
	last                               string
}

func newBatchProgress(w io.Writer, total int) *batchProgress {
	p := &batchProgress{w: w, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *batchProgress) print(final bool) {
	el := time.Since(p.start)
	s := fmt.Sprintf("batch: %d/%d done (%d before this run), %d failed, %d left", p.skipped+p.done, p.total, p.skipped, p.failed, p.left)
	if p.done > 0 {
		per := el / time.Duration(p.done)
		s += fmt.Sprintf(", %.1f images/min, about %v left", float64(p.images)/el.Minutes(), (per * time.Duration(p.left)).Round(time.Second))
	}
	if s == p.last && !(final && p.tty) {
		return
	}
	p.last = s
	if !p.tty {
		fmt.Fprintln(p.w, s)
		return
	}
	pad := max(p.lastLen-len(s), 0)
	p.lastLen = len(s)
	fmt.Fprintf(p.w, "\r%s%*s", s, pad, "")
	if final {
		fmt.Fprintln(p.w)
	}
}
