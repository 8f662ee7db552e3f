package figure

import (
	"fmt"
	"image"
	"math"

	"github.com/sdgo/sdgo/scheduler"
)

// Schedule plots SD's training noise schedule (scaled_linear βs): on the
// left ᾱₜ with the signal and noise coefficients √ᾱₜ and √(1−ᾱₜ) of
// q(xₜ | x₀); on the right σₜ = √((1−ᾱₜ)/ᾱₜ) on a log scale, with the σs
// Euler visits in `steps` steps, linear and Karras.
func Schedule(cfg scheduler.Config, steps int) (image.Image, error) {
	sched, err := cfg.Schedule()
	if err != nil {
		return nil, err
	}
	T := len(sched.AlphasCumprod)
	var t, abar, sqrtA, sqrtN []float64
	for i, a := range sched.AlphasCumprod {
		a := float64(a)
		t = append(t, float64(i))
		abar = append(abar, a)
		sqrtA = append(sqrtA, math.Sqrt(a))
		sqrtN = append(sqrtN, math.Sqrt(1-a))
	}
	sigma := sigmas(sched)
	left := Plot{
		Title: "abar_t: the signal left at t", XLabel: "training timestep t",
		XMin: 0, XMax: float64(T), YMin: 0, YMax: 1,
		XTicks: []float64{0, 250, 500, 750, 1000}, YTicks: []float64{0, 0.25, 0.5, 0.75, 1},
		Series: []Series{
			{Name: "abar_t", X: t, Y: abar, Color: Palette[0]},
			{Name: "sqrt(abar_t)", X: t, Y: sqrtA, Color: Palette[2]},
			{Name: "sqrt(1-abar_t)", X: t, Y: sqrtN, Color: Palette[1]},
		},
	}
	right := Plot{
		Title: "sigma_t = sqrt((1-abar_t)/abar_t)", XLabel: "training timestep t",
		XMin: 0, XMax: float64(T), YMin: 0.01, YMax: 30, LogY: true,
		XTicks: []float64{0, 250, 500, 750, 1000}, YTicks: []float64{0.01, 0.1, 1, 10},
		Series:     []Series{{Name: "sigma_t", X: t, Y: sigma, Color: Palette[0]}},
		LegendLeft: true,
	}
	perStep := Plot{
		Title: fmt.Sprintf("the sigmas Euler visits in %d steps", steps), XLabel: "step i",
		XMin: 0, XMax: float64(steps), YMin: 0.01, YMax: 30, LogY: true,
		YTicks: []float64{0.01, 0.1, 1, 10},
	}
	for x := 0; x <= steps; x += max(1, steps/5) {
		perStep.XTicks = append(perStep.XTicks, float64(x))
	}
	for k, karras := range []bool{false, true} {
		s, err := scheduler.New("euler", cfg, karras)
		if err != nil {
			return nil, err
		}
		if err := s.SetTimesteps(steps); err != nil {
			return nil, err
		}
		name := "linear in t"
		if karras {
			name = "Karras"
		}
		ser := Series{Name: name, Color: Palette[3+k], Dots: true}
		for i, sig := range s.(*scheduler.Euler).Sigmas() {
			if sig > 0 { // the final 0 has no place on a log scale
				ser.X = append(ser.X, float64(i))
				ser.Y = append(ser.Y, float64(sig))
			}
		}
		perStep.Series = append(perStep.Series, ser)
	}
	img := NewCanvas(1200, 320)
	left.Draw(img, image.Rect(0, 0, 400, 320))
	right.Draw(img, image.Rect(400, 0, 800, 320))
	perStep.Draw(img, image.Rect(800, 0, 1200, 320))
	return img, nil
}

// sigmas returns σₜ = √((1−ᾱₜ)/ᾱₜ) for every training timestep t.
func sigmas(sched *scheduler.Schedule) []float64 {
	out := make([]float64, len(sched.AlphasCumprod))
	for i, a := range sched.AlphasCumprod {
		out[i] = math.Sqrt((1 - float64(a)) / float64(a))
	}
	return out
}

// StepOnSchedule plots σₜ of the training schedule over t (log scale), the
// timesteps a run visits as dots, and the run's step current (from 0)
// as a large red dot: where in the noise schedule that step sits.
func StepOnSchedule(cfg scheduler.Config, timesteps []float64, current int) (image.Image, error) {
	sched, err := cfg.Schedule()
	if err != nil {
		return nil, err
	}
	sigma := sigmas(sched)
	T := len(sigma)
	var t []float64
	for i := range T {
		t = append(t, float64(i))
	}
	at := func(ts float64) float64 { // σ at a fractional timestep, linearly interpolated
		i := min(max(int(ts), 0), T-2)
		f := ts - float64(i)
		return sigma[i] + f*(sigma[i+1]-sigma[i])
	}
	visited := Series{Name: "steps of this run", Color: Palette[3], Dots: true}
	for _, ts := range timesteps {
		visited.X = append(visited.X, ts)
		visited.Y = append(visited.Y, at(ts))
	}
	p := Plot{
		Title: "sigma_t over the training timesteps", XLabel: "timestep t",
		XMin: 0, XMax: float64(T), YMin: 0.01, YMax: 30, LogY: true,
		XTicks: []float64{0, 250, 500, 750, 1000}, YTicks: []float64{0.01, 0.1, 1, 10},
		Series:     []Series{{Name: "sigma_t", X: t, Y: sigma, Color: Palette[0]}, visited},
		LegendLeft: true,
	}
	label := ""
	if current >= 0 && current < len(timesteps) {
		ts := timesteps[current]
		p.Series = append(p.Series, Series{X: []float64{ts}, Y: []float64{at(ts)}, Color: Palette[1], Dots: true, R: 5})
		label = fmt.Sprintf("step %d: t = %.1f, sigma_t = %.3g", current+1, ts, at(ts))
	}
	img := NewCanvas(400, 280)
	p.Draw(img, image.Rect(0, 0, 400, 260))
	Text(img, 56, 262, label, Palette[1])
	return img, nil
}
