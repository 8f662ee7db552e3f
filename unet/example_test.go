package unet_test

import (
	"fmt"
	"log"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/unet"
	"github.com/sdgo/sdgo/weights"
)

// The attention_head_dim of diffusers' config.json is the number of heads:
// SD 1.5 has 8 heads everywhere, SD 2.1 heads of 64 channels.
func ExampleSD21() {
	for _, c := range []struct {
		name string
		cfg  unet.Config
	}{{"SD 1.5", unet.SD15()}, {"SD 2.1", unet.SD21()}} {
		fmt.Print(c.name, ":")
		for i, ch := range c.cfg.BlockOutChannels {
			fmt.Printf(" %d×%d", c.cfg.Heads[i], ch/c.cfg.Heads[i])
		}
		fmt.Println()
	}
	// Output:
	// SD 1.5: 8×40 8×80 8×160 8×160
	// SD 2.1: 5×64 10×64 20×64 20×64
}

// One denoising call of SD 1.5 at 512×512 (64×64 latents) with
// classifier-free guidance (batch 2) costs about 1.6 TFLOP.
func ExampleFLOPs() {
	fmt.Printf("%.0f GFLOP\n", unet.FLOPs(unet.SD15(), 2, 64, 64)/1e9)
	// Output:
	// 1607 GFLOP
}

// Loading a diffusers U-Net folder and predicting the noise of one latent.
func ExampleLoad() {
	cfg, err := unet.ReadConfig("stable-diffusion-v1-5/unet/config.json")
	if err != nil {
		log.Fatal(err)
	}
	f, err := weights.Open("stable-diffusion-v1-5/unet/diffusion_pytorch_model.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	m, err := unet.Load(f, cfg)
	if err != nil {
		log.Fatal(err)
	}
	x := nn.New(1, 4, 64, 64)                     // noisy latent of a 512×512 image
	ctx := nn.New(1, 77, cfg.CrossAttentionDim)   // text encoder output
	eps, err := m.Forward(x, []float32{999}, ctx) // predicted noise
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(eps.Shape)
}

// A single-file checkpoint (original LDM names, model.diffusion_model.*)
// is seen under diffusers names through weights.UNetFromLDM, and its
// configuration read from its tensor shapes.
func ExampleConfigFromWeights() {
	f, err := weights.Open("v1-5-pruned-emaonly.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	src := weights.UNetFromLDM(f)
	cfg, err := unet.ConfigFromWeights(src) // SD 1.5: 320…1280 channels, 8 heads, context 768
	if err != nil {
		log.Fatal(err)
	}
	m, err := unet.Load(src, cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Config.BlockOutChannels, m.Config.CrossAttentionDim)
}
