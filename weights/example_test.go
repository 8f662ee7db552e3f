package weights_test

import (
	"fmt"
	"log"

	"github.com/sdgo/sdgo/weights"
)

// A PyTorch Lightning checkpoint: the tensors of its "state_dict", read
// without running any of its pickle.
func ExampleOpenCkpt() {
	c, err := weights.OpenCkpt("testdata/lightning.ckpt")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	in, _ := c.Info("view.transposed")
	t, err := c.Tensor("view.transposed") // a transposed view, gathered
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(c.Names()), "tensors;", in.Name, in.DType, t.Shape)

	_, err = weights.OpenCkpt("testdata/evil.ckpt")
	fmt.Println(err)
	// Output:
	// 8 tensors; view.transposed F32 [6 4]
	// weights: testdata/evil.ckpt: pickle global "posix.system" is not allowed
}

// Models load diffusers names; a single-file checkpoint is seen through a
// view per component.
func ExampleUNetFromLDM() {
	src, closer, err := weights.OpenAny("testdata/lightning.ckpt")
	if err != nil {
		log.Fatal(err)
	}
	defer closer()
	fmt.Println(weights.DetectLayout(src))
	fmt.Println(weights.UNetFromLDM(src).Names())
	fmt.Println(weights.VAEFromLDM(src).Names())
	fmt.Println(weights.TextFromLDM(src).Names())
	// Output:
	// unet true, vae true, text encoder CLIP (SD 1.x)
	// [conv_in.bias conv_in.weight]
	// [decoder.conv_norm_out.weight]
	// [text_model.embeddings.position_ids]
}

// Check names every tensor a source lacks, holds beyond what is wanted, or
// holds in another shape.
func ExampleCheck() {
	c, err := weights.OpenCkpt("testdata/fp16.ckpt")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = weights.Check(c, map[string][]int{
		"a.weight": {3, 5},
		"a.bias":   {5},
		"c.weight": {2, 2},
	})
	fmt.Println(err)
	// Output:
	// weights: 1 missing: c.weight; 1 unexpected: b.weight; 1 mis-shaped: a.bias: shape [3], want [5]
}

// A diffusers pipeline folder: each component opens on its own, the fp16
// variant first when asked.
func ExampleOpenDiffusers() {
	unet, closer, err := weights.OpenDiffusers("stable-diffusion-v1-5", "unet", true)
	if err != nil {
		log.Fatal(err)
	}
	defer closer()
	in, _ := unet.Info("conv_in.weight")
	fmt.Println(in.Shape) // [320 4 3 3]
}
