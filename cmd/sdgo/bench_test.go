package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/nn"
)

// TestMain lets sdgo bench re-execute the test binary as its txt2img child:
// the child runs the command instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestBench(t *testing.T) {
	t.Setenv(benchEnv, "tiny") // SD 1.5's layout at a few megabytes
	for _, tc := range []struct {
		args     []string
		measured []string // keys with a number
		skipped  []string // keys present but null
	}{
		{
			args:     []string{"bench", "--quick", "--json", "--threads", "2"},
			measured: []string{"gemm_gflops", "text_encode_s", "unet_256_s", "load_s"},
			skipped:  []string{"unet_512_s", "vae_decode_512_s", "txt2img_512_1step_s", "txt2img_512_peak_rss_mb", "txt2img_512_estimate_mb"},
		},
		{
			args:     []string{"bench", "--json"},
			measured: []string{"gemm_gflops", "text_encode_s", "unet_256_s", "unet_512_s", "vae_decode_512_s", "txt2img_512_1step_s", "txt2img_512_estimate_mb"},
		},
	} {
		code, stdout, stderr := sdgo(tc.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%v: %v in %q", tc.args, err, stdout)
		}
		for _, k := range tc.measured {
			if v, ok := r[k].(float64); !ok || !(v > 0) {
				t.Errorf("%v: %s = %v, want a positive number", tc.args, k, r[k])
			}
		}
		for _, k := range tc.skipped {
			if v, ok := r[k]; !ok || v != nil {
				t.Errorf("%v: %s = %v (present %t), want null", tc.args, k, v, ok)
			}
		}
		if r["goarch"] != runtime.GOARCH || r["kernel"] == "" || r["threads"] == nil {
			t.Errorf("%v: goarch %v, kernel %v, threads %v", tc.args, r["goarch"], r["kernel"], r["threads"])
		}
		if runtime.GOOS == "linux" && len(tc.skipped) == 0 {
			if v, ok := r["txt2img_512_peak_rss_mb"].(float64); !ok || v <= 0 {
				t.Errorf("%v: txt2img_512_peak_rss_mb = %v", tc.args, r["txt2img_512_peak_rss_mb"])
			}
		}
	}
	// --dir keeps the checkpoint and reuses it.
	dir := t.TempDir()
	for i, wantWrite := range []bool{true, false} {
		code, stdout, stderr := sdgo("bench", "--quick", "--json", "--dir", dir)
		if code != 0 {
			t.Fatalf("bench --dir, run %d: exit %d: %s", i, code, stderr)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		if wrote := r["write_checkpoint_s"] != nil; wrote != wantWrite {
			t.Errorf("bench --dir, run %d: wrote the checkpoint %t, want %t", i, wrote, wantWrite)
		}
	}
	// The table form.
	if code, stdout, stderr := sdgo("bench", "--quick"); code != 0 || !strings.Contains(stdout, benchSDXLPointer) {
		t.Errorf("bench --quick: exit %d, stdout %q (want the pointer to %q), stderr %q", code, stdout, benchSDXLPointer, stderr)
	}
}

// TestBenchTAESD checks that the random TAESD decoder of sdgo bench --full
// loads as a TAESD decoder and decodes SD 1.5's latents.
func TestBenchTAESD(t *testing.T) {
	path := filepath.Join(t.TempDir(), "taesd.safetensors")
	entries, err := benchTAESDEntries()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeRandomEntries(path, entries); err != nil {
		t.Fatal(err)
	}
	dec, err := loadTAESD(path)
	if err != nil {
		t.Fatal(err)
	}
	y, err := dec.DecodeLatents(nn.New(1, 4, 2, 2)) // (1, 4, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 3, 16, 16}; !slices.Equal(y.Shape, want) {
		t.Errorf("decoded shape %v, want %v", y.Shape, want)
	}
}
