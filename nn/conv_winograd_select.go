package nn

import "os"

func init() {
	switch v := os.Getenv("SDGO_WINOGRAD"); v {
	case "auto", "off", "f2", "f4":
		winogradMode = v
	}
}

// winogradChoose returns the Winograd variant for a 3×3 stride-1
// convolution of c input and o output channels to an oh×ow image, or nil for
// conv2dShifted.
func winogradChoose(c, o, oh, ow int) *winograd {
	switch winogradMode {
	case "off":
		return nil
	case "f2":
		return winogradF2
	case "f4":
		return winogradF4
	}
	return nil // measured rule: see below
}
