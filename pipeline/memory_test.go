package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

// memChildEnv makes TestMemoryChild run one generation and print its
// measured peak and the estimate as JSON.
const memChildEnv = "SDGO_MEMORY_CHILD"

// memJob is one generation whose peak is measured in a child process.
type memJob struct {
	Model, Config string
	Size, Steps   int
	Tiled         bool
}

type memResult struct {
	Peak, Estimate, FileEstimate int64
	Parts                        MemoryEstimate
}

// TestMemoryEstimate checks the estimate against the peak resident memory
// (VmHWM) of real generations, each in its own process, with small models
// at a few sizes: within 25%.
func TestMemoryEstimate(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("peak RSS is read from /proc/self/status (Linux only)")
	}
	if testing.Short() {
		t.Skip("-short: runs child processes")
	}
	td := testdata.Dir(t, "pipeline")
	tiny, tinyCfg := filepath.Join(td, "sd_tiny.safetensors"), filepath.Join(td, "diffusers")
	mini, _ := filepath.Abs("../sdmini/model")
	for _, job := range []memJob{
		{Model: mini, Size: 64, Steps: 2},
		{Model: mini, Size: 512, Steps: 1},
		{Model: mini, Size: 512, Steps: 1, Tiled: true},
		{Model: tiny, Config: tinyCfg, Size: 128, Steps: 1},
	} {
		name := fmt.Sprintf("%s/%d/tiled=%v", filepath.Base(job.Model), job.Size, job.Tiled)
		t.Run(name, func(t *testing.T) {
			arg, _ := json.Marshal(job)
			cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$")
			cmd.Env = append(os.Environ(), memChildEnv+"="+string(arg))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var r memResult
			line := out
			if i := strings.Index(string(out), "{"); i >= 0 {
				line = out[i:]
				if j := strings.Index(string(line), "\n"); j >= 0 {
					line = line[:j]
				}
			}
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("child printed %q: %v", out, err)
			}
			ratio := float64(r.Estimate) / float64(r.Peak)
			t.Logf("measured peak %s, estimate %s (%.2f×), before loading %s; %+v", FormatBytes(r.Peak), FormatBytes(r.Estimate), ratio, FormatBytes(r.FileEstimate), r.Parts)
			if ratio < 0.75 || ratio > 1.25 {
				t.Errorf("estimate %s is %.2f× the measured peak %s: want within 25%%", FormatBytes(r.Estimate), ratio, FormatBytes(r.Peak))
			}
			if fr := float64(r.FileEstimate) / float64(r.Estimate); fr < 0.95 || fr > 1.05 {
				t.Errorf("estimate before loading %s, after %s: want the same", FormatBytes(r.FileEstimate), FormatBytes(r.Estimate))
			}
		})
	}
}

// TestMemoryChild is the child process of TestMemoryEstimate.
func TestMemoryChild(t *testing.T) {
	arg := os.Getenv(memChildEnv)
	if arg == "" {
		t.Skip("runs only as TestMemoryEstimate's child")
	}
	var job memJob
	if err := json.Unmarshal([]byte(arg), &job); err != nil {
		t.Fatal(err)
	}
	lo := LoadOptions{Config: job.Config}
	o := Options{Prompt: "a red circle", Width: job.Size, Height: job.Size, Steps: job.Steps, CFGScale: 7.5, Seed: 1}
	fileEst, err := EstimateMemoryFile(job.Model, lo, o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(job.Model, lo)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SDGO_MEMORY_DEBUG") != "" {
		h, _ := vmHWM()
		fmt.Fprintf(os.Stderr, "after load: %s\n", FormatBytes(h))
	}
	if job.Tiled {
		tl := m.VAE.DefaultTiling()
		o.VAETiling = &tl
	}
	if job.Tiled {
		fileEst, err = EstimateMemoryFile(job.Model, lo, o)
		if err != nil {
			t.Fatal(err)
		}
	}
	est, err := EstimateMemory(m, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	peak, err := vmHWM()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(memResult{Peak: peak, Estimate: est.Peak, FileEstimate: fileEst.Peak, Parts: est})
	fmt.Printf("%s\n", b)
}

// vmHWM reads the process's peak resident memory.
func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
