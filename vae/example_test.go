package vae_test

import (
	"fmt"
	"log"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/vae"
	"github.com/sdgo/sdgo/weights"
)

func ExampleConfig() {
	cfg := vae.SD15()
	fmt.Println("levels", cfg.Levels(), "image/latent", cfg.ScaleFactor(), "scaling", cfg.ScalingFactor)
	// Output: levels 4 image/latent 8 scaling 0.18215
}

// Decoding the UNet's final latents to a PNG, with a VAE from any
// checkpoint layout.
func ExampleLoad() {
	f, err := weights.Open("v1-5-pruned-emaonly.safetensors") // or vae-ft-mse-840000-ema-pruned.safetensors
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	m, err := vae.Load(f, vae.SD15())
	if err != nil {
		log.Fatal(err)
	}
	latents := nn.New(1, 4, 64, 64)    // the UNet's final latents
	x, err := m.DecodeLatents(latents) // (1, 3, 512, 512) in [-1, 1]
	if err != nil {
		log.Fatal(err)
	}
	imgs, err := vae.ToImages(x)
	if err != nil {
		log.Fatal(err)
	}
	if err := vae.WritePNG("out.png", imgs[0]); err != nil {
		log.Fatal(err)
	}
}

// A per-step preview with TAESD: it decodes the UNet's latents directly.
func ExampleLoadTinyDecoder() {
	src, closeFn, err := weights.OpenAny("taesd_decoder.pth") // or .safetensors
	if err != nil {
		log.Fatal(err)
	}
	dec, err := vae.LoadTinyDecoder(src)
	closeFn()
	if err != nil {
		log.Fatal(err)
	}
	latents := nn.New(1, 4, 64, 64)      // the latents after a sampler step
	x, err := dec.DecodeLatents(latents) // (1, 3, 512, 512) in about [-1, 1]
	if err != nil {
		log.Fatal(err)
	}
	imgs, err := vae.ToImages(x)
	if err != nil {
		log.Fatal(err)
	}
	if err := vae.WritePNG("preview.png", imgs[0]); err != nil {
		log.Fatal(err)
	}
}
