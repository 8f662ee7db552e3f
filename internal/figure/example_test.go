package figure_test

import (
	"fmt"

	"github.com/sdgo/sdgo/internal/figure"
	"github.com/sdgo/sdgo/scheduler"
)

// Where the third of four steps sits on SD's noise schedule: the curve of
// σₜ, the run's timesteps as dots, the current one large and red.
func ExampleStepOnSchedule() {
	img, err := figure.StepOnSchedule(scheduler.SD15(), []float64{999, 666, 333, 0}, 2)
	if err != nil {
		panic(err)
	}
	fmt.Println(img.Bounds().Size())
	// Output: (400,280)
}

// A text context (here 3 tokens × 4 features) as a heat map: one row per
// token, one pixel per feature.
func ExampleMatrix() {
	img := figure.Matrix([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 3, 4)
	fmt.Println(img.Bounds().Size(), img.At(0, 0), img.At(3, 2))
	// Output: (4,3) {0 0 4 255} {252 255 164 255}
}
