package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sdgo/sdgo/clip"
	"github.com/sdgo/sdgo/unet"
)

// A single-file checkpoint carries weights but no configuration. Every size
// is read from the tensors' shapes except the number of attention heads of
// the text encoder and of the U-Net: a head count only splits a width, so
// any divisor fits the weights, and a wrong one makes a wrong image without
// any error. sdgo takes the heads from a known model only when the shapes
// are that model's; otherwise Load stops and asks for the configs
// (LoadOptions.Config, the command's --config).

// KnownModel is a released model whose shapes identify it, and the head
// counts its weights do not record.
type KnownModel struct {
	Name string
	Text clip.Config // compared: Width, MLPWidth, Positions
	UNet unet.Config // compared: BlockOutChannels, CrossAttentionDim, UseLinearProjection, LayersPerBlock
	// Text2 is SDXL's second text encoder (OpenCLIP bigG with projection);
	// zero for single-encoder models. Compared as Text.
	Text2 clip.Config
}

var (
	knownMu sync.Mutex
	known   = []KnownModel{
		{Name: "SD 1.x", Text: clip.SD1(), UNet: unet.SD15()},
		{Name: "SD 2.x", Text: clip.SD2(), UNet: unet.SD21()},
		// SDXL base 1.0 and SDXL-Turbo share these shapes.
		{Name: "SDXL", Text: clip.SD1(), UNet: unet.SDXL(), Text2: clip.SDXLBigG()},
	}
)

// resolveText2Heads sets the heads of SDXL's second text encoder, inferred
// from a single file, to those of the known model whose second encoder has
// its shapes, or returns an error naming the value that cannot be read.
func resolveText2Heads(tc *clip.Config) error {
	var names []string
	for _, k := range KnownModels() {
		if k.Text2.Width == 0 {
			continue
		}
		if k.Text2.Width == tc.Width && k.Text2.MLPWidth == tc.MLPWidth && k.Text2.Positions == tc.Positions {
			tc.Heads = k.Text2.Heads
			return nil
		}
		names = append(names, fmt.Sprintf("%s %d", k.Name, k.Text2.Width))
	}
	return fmt.Errorf("cannot read the second text encoder's attention heads from the weights: its width %d is no known model's (%s); %s",
		tc.Width, strings.Join(names, ", "), askConfig)
}

// RegisterKnownModel adds a model whose heads single-file checkpoints of
// its shapes take (package sdmini registers sd-mini).
func RegisterKnownModel(m KnownModel) {
	knownMu.Lock()
	defer knownMu.Unlock()
	known = append(known, m)
}

// KnownModels lists the known models, SD 1.x and SD 2.x first.
func KnownModels() []KnownModel {
	knownMu.Lock()
	defer knownMu.Unlock()
	return slices.Clone(known)
}

// askConfig is what a refusal to guess asks for.
const askConfig = "pass --config DIR, a diffusers folder whose configs describe the checkpoint (text_encoder/, unet/, vae/ config.json)"

// resolveHeads sets the head counts of configs inferred from a
// checkpoint's shapes to those of the known model with the same shapes,
// or returns an error naming the value that cannot be read.
func resolveHeads(tc *clip.Config, uc *unet.Config) error {
	var textOK, unetOK bool
	var textNames, unetNames []string
	for _, k := range KnownModels() {
		if !textOK && k.Text.Width == tc.Width && k.Text.MLPWidth == tc.MLPWidth && k.Text.Positions == tc.Positions {
			tc.Heads, textOK = k.Text.Heads, true
		}
		if !unetOK && slices.Equal(k.UNet.BlockOutChannels, uc.BlockOutChannels) && k.UNet.CrossAttentionDim == uc.CrossAttentionDim &&
			k.UNet.UseLinearProjection == uc.UseLinearProjection && k.UNet.LayersPerBlock == uc.LayersPerBlock {
			uc.Heads, unetOK = slices.Clone(k.UNet.Heads), true
		}
		textNames = append(textNames, fmt.Sprintf("%s %d", k.Name, k.Text.Width))
		unetNames = append(unetNames, fmt.Sprintf("%s %v", k.Name, k.UNet.BlockOutChannels))
	}
	switch {
	case !textOK:
		return fmt.Errorf("cannot read the text encoder's attention heads from the weights: its width %d is no known model's (%s); %s",
			tc.Width, strings.Join(textNames, ", "), askConfig)
	case !unetOK:
		return fmt.Errorf("cannot read the U-Net's attention heads from the weights: its channels %v (context %d) are no known model's (%s); %s",
			uc.BlockOutChannels, uc.CrossAttentionDim, strings.Join(unetNames, ", "), askConfig)
	}
	return nil
}
