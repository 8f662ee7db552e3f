package pipeline

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"testing"
)

func TestPNGParameters(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.NRGBA{200, 10, 30, 255})
	dir := t.TempDir()
	for i, text := range []string{
		"a red circle\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x64",
		"café, ünïcödé", // Latin-1: tEXt
		"猫 and 🐈",       // not Latin-1: iTXt
	} {
		p := filepath.Join(dir, "x"+string(rune('0'+i))+".png")
		if err := WritePNG(p, img, text, false); err != nil {
			t.Fatal(err)
		}
		got, err := ReadParameters(p)
		if err != nil || got != text {
			t.Fatalf("ReadParameters = %q, %v; want %q", got, err, text)
		}
		// The file is still a valid PNG with the same pixels.
		data, _ := EncodePNG(img, ParametersKey, text)
		dec, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if dec.At(1, 1) != img.At(1, 1) {
			t.Fatalf("pixel changed: %v", dec.At(1, 1))
		}
		if err := WritePNG(p, img, text, false); err == nil {
			t.Fatal("overwrote an existing file")
		}
	}
}
