package main

import (
	"fmt"
	"strings"

	"github.com/sdgo/sdgo/unet"
)

// shapeRow is one activation of the U-Net: its trace name (unet.Model.Trace)
// and its shape.
type shapeRow struct {
	Name  string
	Shape []int
	What  string // what made it
}

// unetShapes lists the shapes of the U-Net's activations for a batch of b
// latents of h×w, derived from the configuration alone, in the order
// unet.Model.Forward computes them. The tests check it against a traced
// forward pass of the tiny model, and the walkthrough's shape table is this
// list for SD 1.5.
func unetShapes(cfg unet.Config, b, h, w int) []shapeRow {
	c0 := cfg.BlockOutChannels[0]
	rows := []shapeRow{
		{"time_proj", []int{b, c0}, "sinusoidal features of t"},
		{"time_embedding", []int{b, cfg.TimeEmbedDim()}, "linear_1, SiLU, linear_2"},
		{"conv_in", []int{b, c0, h, w}, "3×3 conv, 4 → C0 channels"},
	}
	levels := cfg.Levels()
	for i := range levels {
		c := cfg.BlockOutChannels[i]
		cross := cfg.DownBlockTypes[i] == unet.CrossAttnDownBlock2D
		for j := range cfg.LayersPerBlock {
			rows = append(rows, shapeRow{fmt.Sprintf("down%d.resnet%d", i, j), []int{b, c, h, w}, "ResnetBlock2D (+ time embedding)"})
			if cross {
				rows = append(rows, shapeRow{fmt.Sprintf("down%d.attn%d", i, j), []int{b, c, h, w}, fmt.Sprintf("Transformer2D: %d tokens attend to the 77 of the prompt", h*w)})
			}
		}
		what := "level output (no downsampler at the last level)"
		if i < levels-1 {
			h, w = (h+1)/2, (w+1)/2
			what = "stride-2 conv: half the resolution"
		}
		rows = append(rows, shapeRow{fmt.Sprintf("down%d", i), []int{b, c, h, w}, what})
	}
	cm := cfg.BlockOutChannels[levels-1]
	rows = append(rows,
		shapeRow{"mid.resnet0", []int{b, cm, h, w}, "ResnetBlock2D"},
		shapeRow{"mid.attn0", []int{b, cm, h, w}, "Transformer2D at the lowest resolution"},
		shapeRow{"mid", []int{b, cm, h, w}, "ResnetBlock2D"},
	)
	for i := range levels {
		c := cfg.BlockOutChannels[levels-1-i]
		cross := cfg.UpBlockTypes[i] == unet.CrossAttnUpBlock2D
		for j := range cfg.LayersPerBlock + 1 {
			rows = append(rows, shapeRow{fmt.Sprintf("up%d.resnet%d", i, j), []int{b, c, h, w}, "concat a skip, ResnetBlock2D"})
			if cross {
				rows = append(rows, shapeRow{fmt.Sprintf("up%d.attn%d", i, j), []int{b, c, h, w}, fmt.Sprintf("Transformer2D: %d tokens", h*w)})
			}
		}
		what := "level output (no upsampler at the top)"
		if i < levels-1 {
			h, w = 2*h, 2*w
			what = "nearest ×2, 3×3 conv"
		}
		rows = append(rows, shapeRow{fmt.Sprintf("up%d", i), []int{b, c, h, w}, what})
	}
	rows = append(rows,
		shapeRow{"conv_norm_out", []int{b, c0, h, w}, "GroupNorm"},
		shapeRow{"(output)", []int{b, cfg.OutChannels, h, w}, "SiLU, 3×3 conv: the predicted noise"},
	)
	return rows
}

// shapeTable renders rows as a markdown table.
func shapeTable(rows []shapeRow) string {
	var sb strings.Builder
	sb.WriteString("| trace name | shape | what |\n| --- | --- | --- |\n")
	for _, r := range rows {
		s := make([]string, len(r.Shape))
		for i, d := range r.Shape {
			s[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(&sb, "| `%s` | (%s) | %s |\n", r.Name, strings.Join(s, ", "), r.What)
	}
	return sb.String()
}
