package prompt_test

import (
	"fmt"

	"github.com/sdgo/sdgo/prompt"
)

func ExampleParse() {
	for _, s := range prompt.Parse("a (red:1.3) circle, [blurry]") {
		fmt.Printf("%q %.3f\n", s.Text, s.Weight)
	}
	// Output:
	// "a " 1.000
	// "red" 1.300
	// " circle, " 1.000
	// "blurry" 0.909
}
