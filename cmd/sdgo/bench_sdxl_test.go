package main

import (
	"encoding/json"
	"runtime"
	"testing"
)

// TestBenchSDXL runs sdgo bench --model sdxl on an SDXL-shaped model of a
// few megabytes: the file is written from the loaders' own tensor list,
// loaded as a single file without a config, and run.
func TestBenchSDXL(t *testing.T) {
	t.Setenv(benchEnv, "tiny")
	code, stdout, stderr := sdgo("bench", "--model", "sdxl", "--json", "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	for _, k := range []string{"params", "unet_params", "text_encode_s", "unet_512_s", "unet_1024_s", "unet_512_gflop", "unet_1024_gflop",
		"turbo_512_1step_s", "txt2img_1024_1step_s", "load_s", "write_checkpoint_s"} {
		if v, ok := r[k].(float64); !ok || !(v > 0) {
			t.Errorf("%s = %v, want a positive number", k, r[k])
		}
	}
	if runtime.GOOS == "linux" {
		for _, k := range []string{"turbo_512_peak_rss_mb", "txt2img_1024_peak_rss_mb"} {
			if v, ok := r[k].(float64); !ok || v <= 0 {
				t.Errorf("%s = %v", k, r[k])
			}
		}
	}
	if code, stdout, stderr := sdgo("bench", "--model", "sdxl", "--quick", "--no-txt2img"); code != 0 || len(stdout) == 0 {
		t.Errorf("--quick table: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, stderr := sdgo("bench", "--model", "sd3"); code == 0 || stderr == "" {
		t.Errorf("--model sd3: exit %d, stderr %q", code, stderr)
	}
}
