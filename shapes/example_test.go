package shapes_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"

	"github.com/sdgo/sdgo/shapes"
)

// Training scenes and their captions: the same seed gives the same scenes,
// captions and pixels on every run.
func Example() {
	r := rand.New(rand.NewPCG(1, 0))
	for range 8 {
		s := shapes.Sample(r, shapes.Train)
		fmt.Println(s.Caption(r))
	}
	// Output:
	// a small white triangle on the right
	// an image of a big black triangle and a big yellow triangle
	// a picture of a small orange square in the center
	// a small red triangle against a purple background
	// a white background with a small yellow triangle at the top
	// a picture of two red circles, blue background
	// an image of a large red circle on the left side and a purple triangle on the right on a blue background
	// a picture of a big purple circle on the left side against an orange background
}

// Render a scene and score it against captions, all in memory: nothing is
// written to disk.
func ExampleScore() {
	scene := shapes.Scene{
		Shapes: []shapes.Shape{{
			Kind: shapes.Triangle, Colour: shapes.Blue, Size: shapes.Large, Pos: shapes.Top,
			X: 0.5, Y: 0.25, R: 0.18,
		}},
		Background: shapes.Yellow,
	}
	img := scene.Render(64)

	for _, caption := range []string{
		"a large blue triangle at the top on a yellow background",
		"a blue triangle", // no background stated means white: wrong here
		"a small red circle on the left",
	} {
		spec, err := shapes.ParseCaption(caption)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-56s %+v\n", caption, shapes.Score(img, spec))
	}
	fmt.Println("read as:", shapes.Read(img).Spec())
	// Output:
	// a large blue triangle at the top on a yellow background  {Count:true Shape:true Colour:true Size:true Position:true Background:true}
	// a blue triangle                                          {Count:true Shape:true Colour:true Size:true Position:true Background:false}
	// a small red circle on the left                           {Count:true Shape:false Colour:false Size:false Position:false Background:false}
	// read as: a large blue triangle at the top on a yellow background
}

// A caption of the required grammar, read back into attributes.
func ExampleParseCaption() {
	spec, err := shapes.ParseCaption("a small blue square at the top on a white background")
	if err != nil {
		fmt.Println(err)
		return
	}
	o := spec.Objects[0]
	fmt.Println(o.Size, o.Colour, o.Kind, o.Pos, "on", spec.Background)

	_, err = shapes.ParseCaption("a blue square on a blue background")
	fmt.Println(err)
	// Output:
	// small blue square top on white
	// shapes: caption "a blue square on a blue background": a blue shape on a blue background would be invisible
}

// The evaluation prompts: attribute combinations no training image shows.
func ExampleHeldOut() {
	for _, spec := range shapes.HeldOut(4, 0) {
		fmt.Println(spec)
	}
	// Output:
	// a large purple circle on the left on a red background
	// a small red triangle on the right on a blue background
	// a small red triangle at the top on a green background
	// a small red square at the top on a white background
}

// A batch of images as a (B, 3, H, W) tensor and as a sample grid, encoded
// to PNG in memory.
func ExampleGrid() {
	r := rand.New(rand.NewPCG(2, 0))
	var imgs []image.Image
	var batch []float32
	for range 8 {
		img := shapes.Sample(r, shapes.Train).Render(64)
		imgs = append(imgs, img)
		batch = shapes.ToTensor(batch, img) // (B, 3, 64, 64) grows by one image
	}
	grid := shapes.Grid(imgs, 4)
	var buf bytes.Buffer
	if err := png.Encode(&buf, grid); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("tensor:", len(batch), "=", 8*3*64*64)
	fmt.Println("grid:", grid.Bounds().Dx(), "×", grid.Bounds().Dy())
	// Output:
	// tensor: 98304 = 98304
	// grid: 262 × 130
}
