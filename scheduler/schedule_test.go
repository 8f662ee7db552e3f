package scheduler

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestTimesteps checks the spacings and offsets of every family against
// values diffusers computes for the same settings.
func TestTimesteps(t *testing.T) {
	with := func(sp Spacing) Config { c := SD15(); c.Spacing = sp; return c }
	tests := []struct {
		name   string
		cfg    Config
		karras bool
		n      int
		want   []float64
	}{
		{"ddim", SD15(), false, 4, []float64{751, 501, 251, 1}},
		{"ddim", with(Trailing), false, 4, []float64{999, 749, 499, 249}},
		{"ddim", with(Linspace), false, 4, []float64{999, 666, 333, 0}},
		{"ddim", with(Trailing), false, 3, []float64{999, 666, 332}},
		{"ddpm", SD15(), false, 50, nil}, // checked below: 981 … 1
		{"pndm", SD15(), false, 4, []float64{751, 501, 501, 251, 1}},
		{"pndm", with(Linspace), false, 4, []float64{999, 666, 666, 333, 0}},
		{"pndm", with(Trailing), false, 4, []float64{999, 749, 749, 499, 249}},
		{"pndm", SD15(), false, 1, []float64{1}},
		{"euler", SD15(), false, 4, []float64{999, 666, 333, 0}},
		{"euler", with(Leading), false, 4, []float64{751, 501, 251, 1}},
		{"euler", with(Trailing), false, 4, []float64{999, 749, 499, 249}},
		{"euler", SD15(), false, 1, []float64{0}},
		{"heun", SD15(), false, 4, []float64{999, 666, 666, 333, 333, 0, 0}},
		{"dpm++2m", SD15(), false, 4, []float64{999, 749, 500, 250}},
		{"dpm++2m", SD15(), true, 4, []float64{999, 687, 146, 0}},
		{"dpm++2m", with(Leading), false, 4, []float64{801, 601, 401, 201}},
		{"dpm++2m", with(Trailing), false, 4, []float64{999, 749, 499, 249}},
		{"lcm", SD15(), false, 4, []float64{999, 759, 499, 259}},
		{"lcm", SD15(), false, 1, []float64{999}},
	}
	for _, tc := range tests {
		s, err := New(tc.name, tc.cfg, tc.karras)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetTimesteps(tc.n); err != nil {
			t.Fatal(err)
		}
		got := s.Timesteps()
		if tc.want == nil {
			tc.want = make([]float64, tc.n)
			for i := range tc.want {
				tc.want[i] = float64(981 - 20*i)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %q karras=%v n=%d: timesteps %v, want %v", tc.name, tc.cfg.Spacing, tc.karras, tc.n, got, tc.want)
		}
	}
}

// TestKarras checks the Karras σ schedule of the Euler family: it spans the
// same σ as the plain schedule, falls monotonically, and its timesteps are σ
// mapped back through the schedule.
func TestKarras(t *testing.T) {
	for _, name := range []string{"euler", "euler_a", "lms", "heun"} {
		plain, _ := New(name, SD15(), false)
		karras, _ := New(name, SD15(), true)
		for _, s := range []Scheduler{plain, karras} {
			if err := s.SetTimesteps(10); err != nil {
				t.Fatal(err)
			}
		}
		ps := plain.(interface{ Sigmas() []float32 }).Sigmas()
		ks := karras.(interface{ Sigmas() []float32 }).Sigmas()
		n := len(ks)
		if ks[0] != ps[0] || ks[n-2] != ps[n-2] || ks[n-1] != 0 {
			t.Errorf("%s: Karras σ %v, want the ends %v, %v of %v", name, ks, ps[0], ps[n-2], ps)
		}
		for i := 1; i < n; i++ {
			if ks[i] > ks[i-1] {
				t.Errorf("%s: Karras σ rise at %d: %v", name, i, ks)
			}
		}
		ts := karras.Timesteps()
		if ts[0] != 999 || ts[len(ts)-1] != 0 {
			t.Errorf("%s: Karras timesteps %v, want 999 … 0", name, ts)
		}
		if karras.InitNoiseSigma() != plain.InitNoiseSigma() {
			t.Errorf("%s: init σ %v with Karras, %v without", name, karras.InitNoiseSigma(), plain.InitNoiseSigma())
		}
	}
}

// TestStart checks img2img's first step (diffusers' get_timesteps) and that
// AddNoise noises to that step's level in each family.
func TestStart(t *testing.T) {
	tests := []struct {
		name     string
		strength float64
		want     int
	}{
		{"ddim", 1, 0},
		{"ddim", 0.75, 5},
		{"ddim", 0.5, 10},
		{"ddim", 0.33, 14}, // ⌊20·0.33⌋ = 6
		{"ddim", 0, 20},
		{"heun", 0.5, 20}, // order 2
		{"heun", 1, 0},
		{"pndm", 0.5, 10},
		{"euler", 0.6, 8},
	}
	for _, tc := range tests {
		s, err := New(tc.name, SD15(), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetTimesteps(20); err != nil {
			t.Fatal(err)
		}
		if got := s.Start(tc.strength); got != tc.want {
			t.Errorf("%s: Start(%v) = %d, want %d", tc.name, tc.strength, got, tc.want)
		}
	}

	sched, _ := SD15().Schedule()
	x0 := []float32{1, -2, 0.5}
	noise := []float32{0.3, 0.1, -1}
	for _, name := range Names() {
		s, _ := New(name, SD15(), false)
		if err := s.SetTimesteps(20); err != nil {
			t.Fatal(err)
		}
		i := s.Start(0.5)
		got := make([]float32, len(x0))
		if err := s.AddNoise(i, got, x0, noise); err != nil {
			t.Fatal(err)
		}
		// Expected, in float64: x0 + σ·ε for the Euler family; the ᾱ form
		// (with ᾱ = 1/(σ²+1) for DPM-Solver) for the others.
		var sa, sb float64
		switch s := s.(type) {
		case *DPMSolver:
			sigma := float64(s.Sigmas()[i])
			sa = 1 / math.Sqrt(sigma*sigma+1)
			sb = sigma * sa
		case interface{ Sigmas() []float32 }:
			sa, sb = 1, float64(s.Sigmas()[i])
		default:
			a := float64(sched.AlphasCumprod[int(s.Timesteps()[i])])
			sa, sb = math.Sqrt(a), math.Sqrt(1-a)
		}
		for j := range got {
			want := sa*float64(x0[j]) + sb*float64(noise[j])
			if math.Abs(float64(got[j])-want) > 1e-6*max(1, math.Abs(want)) {
				t.Errorf("%s: AddNoise(%d)[%d] = %v, want %v", name, i, j, got[j], want)
			}
		}
		// The end of the schedule: no noise.
		if err := s.AddNoise(len(s.Timesteps()), got, x0, noise); err != nil {
			t.Fatal(err)
		}
		if name != "dpm++2m" && !slices.Equal(got, x0) {
			t.Errorf("%s: AddNoise at the end = %v, want x0 %v", name, got, x0)
		}
	}
}

// TestScheduleIdentities checks the training helpers against each other:
// x₀ = √ᾱ·xₜ − √(1−ᾱ)·v and ε = √ᾱ·v + √(1−ᾱ)·xₜ.
func TestScheduleIdentities(t *testing.T) {
	s, err := SD21().Schedule()
	if err != nil {
		t.Fatal(err)
	}
	x0 := []float32{1, -0.5, 0.25, 2}
	eps := []float32{-0.3, 1.2, 0.7, -2}
	xt, v := make([]float32, 4), make([]float32, 4)
	for _, ts := range []int{0, 1, 500, 999} {
		if err := s.AddNoise(xt, x0, eps, ts); err != nil {
			t.Fatal(err)
		}
		if err := s.Velocity(v, x0, eps, ts); err != nil {
			t.Fatal(err)
		}
		a := float64(s.AlphasCumprod[ts])
		sa, sb := math.Sqrt(a), math.Sqrt(1-a)
		for j := range x0 {
			gotX0 := sa*float64(xt[j]) - sb*float64(v[j])
			gotEps := sa*float64(v[j]) + sb*float64(xt[j])
			if math.Abs(gotX0-float64(x0[j])) > 1e-6 || math.Abs(gotEps-float64(eps[j])) > 1e-6 {
				t.Errorf("t=%d: x₀ %v, ε %v recovered as %v, %v", ts, x0[j], eps[j], gotX0, gotEps)
			}
		}
	}
	if err := s.AddNoise(xt, x0, eps, 1000); err == nil {
		t.Error("AddNoise at t = 1000 succeeded, want an error")
	}
}

// TestErrors checks that bad input is reported, never a panic.
func TestErrors(t *testing.T) {
	bad := SD15()
	bad.BetaSchedule = "cosine"
	if _, err := New("euler", bad, false); err == nil || !strings.Contains(err.Error(), "cosine") {
		t.Errorf("unknown beta schedule: error %v", err)
	}
	bad = SD15()
	bad.Prediction = "sample"
	if _, err := New("ddim", bad, false); err == nil {
		t.Error("unknown prediction: no error")
	}
	for _, name := range Names() {
		s, _ := New(name, SD15(), false)
		for _, n := range []int{0, -1, 1001} {
			if err := s.SetTimesteps(n); err == nil {
				t.Errorf("%s: SetTimesteps(%d) succeeded", name, n)
			}
		}
		if _, err := s.Step(0, make([]float32, 4), make([]float32, 4), nil); err == nil {
			t.Errorf("%s: Step before SetTimesteps succeeded", name)
		}
		if err := s.SetTimesteps(4); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Step(0, make([]float32, 3), make([]float32, 4), nil); err == nil {
			t.Errorf("%s: Step with mismatched lengths succeeded", name)
		}
		if _, err := s.Step(len(s.Timesteps()), make([]float32, 4), make([]float32, 4), nil); err == nil {
			t.Errorf("%s: Step past the end succeeded", name)
		}
		if err := s.ScaleModelInput(0, make([]float32, 3), make([]float32, 4)); err == nil {
			t.Errorf("%s: ScaleModelInput with mismatched lengths succeeded", name)
		}
	}
	lcm, _ := New("lcm", SD15(), false)
	if err := lcm.SetTimesteps(51); err == nil {
		t.Error("lcm: SetTimesteps(51) succeeded, want an error (50-step grid)")
	}
	for _, name := range []string{"ddpm", "euler_a", "lcm"} {
		s, _ := New(name, SD15(), false)
		if err := s.SetTimesteps(4); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Step(0, make([]float32, 4), make([]float32, 4), nil); err == nil {
			t.Errorf("%s: stochastic step without noise succeeded", name)
		}
	}
	heun, _ := New("heun", SD15(), false)
	if err := heun.SetTimesteps(4); err != nil {
		t.Fatal(err)
	}
	if _, err := heun.Step(1, make([]float32, 4), make([]float32, 4), nil); err == nil {
		t.Error("heun: corrector without predictor succeeded")
	}
}
