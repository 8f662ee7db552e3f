package main

import (
	"context"
	"fmt"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/vae"
)

// Inpainting from Go: repaint the white part of a mask, keep the rest.
// (Needs a model folder and two images; compiled, not run.)
func Example_inpaint() {
	m, err := pipeline.Load("sd-v1-5-inpainting", pipeline.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	photo, err := vae.ReadImage("photo.png")
	if err != nil {
		fmt.Println(err)
		return
	}
	mask, err := vae.ReadImage("mask.png") // white: repaint; black: keep
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := m.Generate(context.Background(), pipeline.Options{
		Prompt:    "a vase of flowers on a table",
		InitImage: photo,
		Strength:  1, // the masked part starts from pure noise
		Inpaint:   pipeline.Inpaint{Mask: mask, MaskBlur: 4},
	})
	if err != nil {
		fmt.Println(err) // a bad mask is a *pipeline.MaskError
		return
	}
	fmt.Println(m.IsInpainting(), res[0].Image.Bounds())
}
