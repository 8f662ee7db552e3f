package scheduler_test

import (
	"fmt"
	"math"

	"github.com/sdgo/sdgo/scheduler"
)

// The 4-step schedule of Euler with SD 1.5's config: linspace timesteps
// and the σ of each, then 0.
func Example() {
	s, err := scheduler.New("euler", scheduler.SD15(), false)
	if err != nil {
		panic(err)
	}
	if err := s.SetTimesteps(4); err != nil {
		panic(err)
	}
	fmt.Println(s.Timesteps())
	fmt.Printf("%.4f\n", s.(*scheduler.Euler).Sigmas())
	fmt.Printf("%.4f\n", s.InitNoiseSigma())
	// Output:
	// [999 666 333 0]
	// [14.6146 2.9183 0.9324 0.0292 0.0000]
	// 14.6146
}

// A sampling loop with a stand-in for the U-Net.
func ExampleNew() {
	s, err := scheduler.New("dpm++2m", scheduler.SD15(), true)
	if err != nil {
		panic(err)
	}
	if err := s.SetTimesteps(4); err != nil {
		panic(err)
	}
	fmt.Println("timesteps:", s.Timesteps())

	x := []float32{1, -1, 0.5, 2} // x_T ~ N(0, I), shape (1, 4, 1, 1)
	for j := range x {
		x[j] *= float32(s.InitNoiseSigma())
	}
	in := make([]float32, len(x))
	for i, t := range s.Timesteps() {
		if err := s.ScaleModelInput(i, in, x); err != nil {
			panic(err)
		}
		eps := in // a fake U-Net: ε̂(x, t) = 0.5·x + 0.25·sin(t/100)
		for j := range eps {
			eps[j] = 0.5*eps[j] + 0.25*float32(math.Sin(t/100))
		}
		if _, err := s.Step(i, eps, x, nil); err != nil { // deterministic: no noise
			panic(err)
		}
	}
	fmt.Printf("x0: %.4f\n", x)
	// Output:
	// timesteps: [999 687 146 0]
	// x0: [1.1118 -2.8377 0.1244 3.0865]
}

// img2img at strength 0.5: skip the first half of the schedule and noise
// the input latent to the level of the first step taken.
func ExampleScheduler_Start() {
	s, err := scheduler.New("ddim", scheduler.SD15(), false)
	if err != nil {
		panic(err)
	}
	if err := s.SetTimesteps(10); err != nil {
		panic(err)
	}
	start := s.Start(0.5)
	fmt.Println("steps taken:", s.Timesteps()[start:])

	x0 := []float32{0.5, -0.5}    // the encoded input image
	noise := []float32{1, 1}      // from a Noise source
	x := make([]float32, len(x0)) // the first latent
	if err := s.AddNoise(start, x, x0, noise); err != nil {
		panic(err)
	}
	fmt.Printf("x: %.4f\n", x)
	// Output:
	// steps taken: [401 301 201 101 1]
	// x: [1.0848 0.4345]
}

// Training: the forward process q(xₜ | x₀) at a random timestep.
func ExampleSchedule_AddNoise() {
	sched, err := scheduler.SD15().Schedule()
	if err != nil {
		panic(err)
	}
	x0 := []float32{1, -1}
	eps := []float32{0.3, 0.3}
	xt := make([]float32, 2)
	if err := sched.AddNoise(xt, x0, eps, 500); err != nil {
		panic(err)
	}
	fmt.Printf("ᾱ₅₀₀ = %.4f, x₅₀₀ = %.4f\n", sched.AlphasCumprod[500], xt)
	// Output:
	// ᾱ₅₀₀ = 0.2763, x₅₀₀ = [0.7809 -0.2705]
}

// Reading a model's scheduler_config.json: the keys it names replace those
// of the base config, the others keep SD 1.5's values.
func ExampleParseConfig() {
	data := []byte(`{
  "_class_name": "DDIMScheduler",
  "prediction_type": "v_prediction",
  "timestep_spacing": "trailing"
}`)
	cfg, err := scheduler.ParseConfig(data, scheduler.SD15())
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.TrainSteps, cfg.BetaSchedule, cfg.Prediction, cfg.Spacing)
	// Output:
	// 1000 scaled_linear v_prediction trailing
}
