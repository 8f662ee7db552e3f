package lora_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/pipeline"
)

// The library call: the model's LoRA and embedding folders are load
// options; a prompt names LoRAs as <lora:NAME:W> and embeddings by their
// trigger words. The image's parameters record the files' hashes.
func Example() {
	m, err := pipeline.Load("v1-5-pruned-emaonly.safetensors", pipeline.LoadOptions{
		LoraDir:      "models/lora",       // watercolor.safetensors, …
		EmbeddingDir: "models/embeddings", // easynegative.safetensors, …
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	res, err := m.Generate(context.Background(), pipeline.Options{
		Prompt:         "a castle on a hill <lora:watercolor:0.8>",
		NegativePrompt: "easynegative",
		Loras:          []pipeline.LoraFile{{Path: "one-off.safetensors", Multiplier: 0.5}},
	})
	if err != nil {
		log.Fatal(err)
	}
	pipeline.WritePNG("castle.png", res[0].Image, res[0].Parameters, false)
}

// What a LoRA does to one weight: W' = W + m·(alpha/r)·up·down, here with
// rank r = 1, alpha 1 and multiplier m = 0.5 on a 2×2 identity; Undo gives
// W back exactly.
func ExampleApply() {
	w := nn.From([]float32{1, 0, 0, 1}, 2, 2) // the model's weight (out, in)
	ix := lora.NewIndex(map[string]*nn.Tensor{"mid_block.attentions.0.proj_in.weight": w}, nil)
	a := &lora.Adapter{Name: "tiny", Modules: []*lora.Module{{
		Key:  "lora_unet_mid_block_attentions_0_proj_in",
		Kind: lora.LoRA,
		Parts: map[string]*nn.Tensor{
			"down": nn.From([]float32{1, 2}, 1, 2), // (r, in)
			"up":   nn.From([]float32{2, 0}, 2, 1), // (out, r)
		},
		Alpha: 1, HasAlpha: true,
	}}}
	p, err := lora.Apply(ix, []lora.Use{{Adapter: a, Multiplier: 0.5}}, false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("merged:", w.Data)
	p.Undo()
	fmt.Println("undone:", w.Data)
	// Output:
	// merged: [2 2 0 1]
	// undone: [1 0 0 1]
}
