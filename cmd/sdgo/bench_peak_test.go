package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/sdgo/sdgo/vae"
)

func TestVAEDecodeFLOPs(t *testing.T) {
	// SD 1.5's decoder at 64×64 latents: 1.24 T multiply-adds, as sd.cpp and
	// the 2,515 GFLOP count them (convolutions and attention).
	got := vaeDecodeFLOPs(vae.SD15(), 1, 64, 64) / 1e9
	if math.Abs(got-2515) > 30 {
		t.Errorf("vaeDecodeFLOPs(SD15, 1, 64, 64) = %.0f GFLOP, want about 2,515", got)
	}
	t.Logf("%.1f GFLOP", got)
}

func TestReadCPUInfo(t *testing.T) {
	info := readCPUInfo()
	if info.Model == "" {
		t.Error("no CPU model")
	}
	t.Logf("%+v", info)
}

func TestBenchKernelFlag(t *testing.T) {
	t.Setenv(benchEnv, "tiny")
	code, _, stderr := sdgo("bench", "--quick", "--kernel", "sse9")
	if code == 0 || !strings.Contains(stderr, "--kernel") {
		t.Errorf("--kernel sse9: exit %d, stderr %q; want an error naming --kernel", code, stderr)
	}
	defer gemm.SetKernel("auto")
	code, stdout, stderr := sdgo("bench", "--quick", "--json", "--no-scaling", "--kernel", "go")
	if code != 0 {
		t.Fatalf("--kernel go: exit %d: %s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r["kernel"] != "go" || r["unet_thread_scaling"] != nil {
		t.Errorf("--kernel go --no-scaling: kernel %v, unet_thread_scaling %v", r["kernel"], r["unet_thread_scaling"])
	}
	if p, ok := r["peak_gflops"].(float64); !ok || p <= 0 {
		t.Errorf("peak_gflops = %v", r["peak_gflops"])
	}
}

func TestBenchFull(t *testing.T) {
	t.Setenv(benchEnv, "tiny")
	code, stdout, stderr := sdgo("bench", "--json", "--full", "--no-scaling", "--threads", "2")
	if code != 0 {
		t.Fatalf("bench --full: exit %d: %s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"txt2img_512_20step_s", "txt2img_512_20step_cpu_s", "txt2img_512_1step_s",
		"txt2img_512_20step_estimate_mb", "txt2img_512_20step_taesd_estimate_mb",
		"peak_gflops", "peak_1thread_gflops", "peak_core_gflops", "gemm_efficiency",
		"unet_256_efficiency", "unet_512_efficiency", "vae_decode_512_efficiency",
		"unet_512_cpu_efficiency", "vae_decode_512_cpu_efficiency"} {
		if v, ok := r[k].(float64); !ok || v <= 0 {
			t.Errorf("bench --full: %s = %v, want a positive number", k, r[k])
		}
	}
	// Each child's figures are its own (the VAE-decoded child's were the
	// TAESD child's, written over): the estimates differ, as the decoders do.
	if r["txt2img_512_20step_estimate_mb"] == r["txt2img_512_20step_taesd_estimate_mb"] {
		t.Errorf("bench --full: the same estimate %v for the VAE- and the TAESD-decoded child", r["txt2img_512_20step_estimate_mb"])
	}
}

func TestBenchScaling(t *testing.T) {
	t.Setenv(benchEnv, "tiny")
	code, stdout, stderr := sdgo("bench", "--quick", "--json", "--threads", "2")
	if code != 0 {
		t.Fatalf("bench --quick: exit %d: %s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"peak_gflops", "unet_256_efficiency", "unet_1thread_s", "unet_thread_scaling", "unet_scaling_side", "cpu_model"} {
		if v, ok := r[k]; !ok || v == nil {
			t.Errorf("bench --quick: %s = %v, want a value", k, v)
		}
	}
	for _, k := range []string{"unet_512_efficiency", "vae_decode_512_efficiency", "txt2img_512_20step_s"} {
		if v, ok := r[k]; !ok || v != nil {
			t.Errorf("bench --quick: %s = %v (present %t), want null", k, v, ok)
		}
	}
}
