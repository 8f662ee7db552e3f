package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/scheduler"
)

// fakeBinder records its calls and returns a fixed change (or an error).
type fakeBinder struct {
	calls  []BindStep
	change func(s BindStep) (*nn.Tensor, error)
}

func (f *fakeBinder) Steer(m *Model, s BindStep) (*nn.Tensor, error) {
	f.calls = append(f.calls, s)
	return f.change(s)
}

// A Binder sees every step with the U-Net's input and the prompt's
// embeddings; no change leaves the image as it is, a change moves the
// U-Net's input by exactly that, and errors and bad shapes are reported.
func TestBind(t *testing.T) {
	m := loadTiny(t, "diffusers")
	o := Options{Prompt: refPrompt, Steps: 3, Seed: 1, Sampler: "euler"}
	plain, err := m.Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	none := &fakeBinder{change: func(BindStep) (*nn.Tensor, error) { return nil, nil }}
	o.Bind = none
	same, err := m.Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(none.calls) != 3 || string(same[0].Image.Pix) != string(plain[0].Image.Pix) {
		t.Fatalf("%d calls (want 3); image unchanged: %v", len(none.calls), string(same[0].Image.Pix) == string(plain[0].Image.Pix))
	}
	for i, c := range none.calls {
		if c.Step != i || c.Steps != 3 || c.Prompt != refPrompt || c.Cond == nil || c.Input == nil || c.Input.Shape[1] != 4 {
			t.Errorf("call %d: %+v", i, c)
		}
	}
	// A change moves the U-Net's input by exactly that change, whatever the
	// sampler's input scale (Euler's c_in is 1/√(σ²+1)).
	sched, err := scheduler.New("euler", m.Scheduler, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.SetTimesteps(3); err != nil {
		t.Fatal(err)
	}
	lat := nn.New(1, 4, 8, 8)
	for i := range lat.Data {
		lat.Data[i] = float32(i%7) - 3
	}
	before := nn.New(lat.Shape...)
	if err := sched.ScaleModelInput(0, before.Data, lat.Data); err != nil {
		t.Fatal(err)
	}
	half := &fakeBinder{change: func(s BindStep) (*nn.Tensor, error) {
		d := nn.New(s.Input.Shape...)
		for i := range d.Data {
			d.Data[i] = 0.5
		}
		return d, nil
	}}
	o.Bind = half
	if err := m.steer(o, sched, 0, 3, sched.Timesteps()[0], lat, nn.New(1, 77, 8)); err != nil {
		t.Fatal(err)
	}
	after := nn.New(lat.Shape...)
	if err := sched.ScaleModelInput(0, after.Data, lat.Data); err != nil {
		t.Fatal(err)
	}
	for i := range after.Data {
		if d := after.Data[i] - before.Data[i]; d < 0.5-1e-5 || d > 0.5+1e-5 {
			t.Fatalf("input moved by %g at %d, want 0.5", d, i)
		}
	}
	if c := half.calls[0]; c.Input.Data[5] != before.Data[5] {
		t.Errorf("the binder saw input %g, want the scaled latents' %g", c.Input.Data[5], before.Data[5])
	}
	for _, tc := range []struct {
		change func(BindStep) (*nn.Tensor, error)
		want   string
	}{
		{func(BindStep) (*nn.Tensor, error) { return nil, errors.New("boom") }, "bind: step 0: boom"},
		{func(BindStep) (*nn.Tensor, error) { return nn.New(1, 2), nil }, "bind: step 0: change of shape [1 2]"},
	} {
		o.Bind = &fakeBinder{change: tc.change}
		if _, err := m.Generate(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
