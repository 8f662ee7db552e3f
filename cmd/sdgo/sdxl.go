package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/scheduler"
)

// xlFlags are the generate command's flags for SDXL's micro-conditioning
// and for choosing the timestep schedule (SDXL-Turbo, SD-Turbo).
type xlFlags struct {
	originalSize, cropTopLeft, targetSize string
	schedulerConfig, timestepSpacing      string
	negativeGiven                         bool // -n was given, even as ""
}

func (x *xlFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&x.originalSize, "original-size", "", "SDXL: the size WxH the image should look cropped from (default: the output size)")
	fs.StringVar(&x.cropTopLeft, "crop-top-left", "", "SDXL: the crop's top-left corner TOP,LEFT in pixels (default 0,0)")
	fs.StringVar(&x.targetSize, "target-size", "", "SDXL: the target size WxH (default: the output size)")
	fs.StringVar(&x.schedulerConfig, "scheduler-config", "", "a diffusers scheduler_config.json replacing the model's schedule (e.g. SDXL-Turbo's)")
	fs.StringVar(&x.timestepSpacing, "timestep-spacing", "", "leading, linspace or trailing (SDXL-Turbo and SD-Turbo: trailing) (default: the model's)")
}

// validate checks the flags' syntax, naming the bad one.
func (x *xlFlags) validate() error {
	var o pipeline.Options
	if err := x.apply(&o); err != nil {
		return err
	}
	switch scheduler.Spacing(x.timestepSpacing) {
	case "", scheduler.Leading, scheduler.Linspace, scheduler.Trailing:
	default:
		return usagef("--timestep-spacing must be leading, linspace or trailing, got %q", x.timestepSpacing)
	}
	if x.schedulerConfig != "" {
		if _, err := os.Stat(x.schedulerConfig); err != nil {
			return usagef("--scheduler-config: %v", err)
		}
	}
	return nil
}

// apply sets the micro-conditioning options, and encodes an explicit
// -n "" rather than zeroing the negative conditioning (diffusers'
// negative_prompt="" versus None).
func (x *xlFlags) apply(o *pipeline.Options) error {
	var err error
	if x.originalSize != "" {
		if o.OriginalWidth, o.OriginalHeight, err = pair(x.originalSize, "x"); err != nil {
			return usagef("--original-size: %v (want WxH, e.g. 1024x1024)", err)
		}
	}
	if x.cropTopLeft != "" {
		if o.CropTop, o.CropLeft, err = pair(x.cropTopLeft, ","); err != nil {
			return usagef("--crop-top-left: %v (want TOP,LEFT, e.g. 0,0)", err)
		}
	}
	if x.targetSize != "" {
		if o.TargetWidth, o.TargetHeight, err = pair(x.targetSize, "x"); err != nil {
			return usagef("--target-size: %v (want WxH, e.g. 1024x1024)", err)
		}
	}
	o.EncodeEmptyNegative = x.negativeGiven
	return nil
}

// loadOptions sets the schedule options of loading.
func (x *xlFlags) loadOptions(lo *pipeline.LoadOptions) {
	lo.SchedulerConfig = x.schedulerConfig
	lo.TimestepSpacing = scheduler.Spacing(x.timestepSpacing)
}

// pair parses "AsepB" into two numbers in [0, 65536]; sizes must be positive.
func pair(s, sep string) (a, b int, err error) {
	l, r, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), sep)
	if !ok {
		return 0, 0, fmt.Errorf("%q has no %q", s, sep)
	}
	if a, err = strconv.Atoi(strings.TrimSpace(l)); err == nil {
		b, err = strconv.Atoi(strings.TrimSpace(r))
	}
	if err != nil || a < 0 || b < 0 || a > 1<<16 || b > 1<<16 || sep == "x" && (a == 0 || b == 0) {
		return 0, 0, fmt.Errorf("bad value %q", s)
	}
	return a, b, nil
}
