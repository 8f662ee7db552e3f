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
	In    int    // for the up ResBlocks: their input channels, after the concat; else 0
}

// row is a shapeRow without input channels.
func row(name string, shape []int, what string) shapeRow { return shapeRow{name, shape, what, 0} }

// unetShapes lists the shapes of the U-Net's activations for a batch of b
// latents of h×w, derived from the configuration alone, in the order
// unet.Model.Forward computes them. The tests check it against a traced
// forward pass of the tiny model, and the walkthrough's shape table is this
// list for SD 1.5.
func unetShapes(cfg unet.Config, b, h, w int) []shapeRow {
	c0 := cfg.BlockOutChannels[0]
	rows := []shapeRow{
		row("time_proj", []int{b, c0}, "sinusoidal features of t"),
		row("time_embedding", []int{b, cfg.TimeEmbedDim()}, "linear_1, SiLU, linear_2"),
		row("conv_in", []int{b, c0, h, w}, "3×3 conv, 4 → C0 channels"),
	}
	levels := cfg.Levels()
	skips := []int{c0} // the channels of the skip connections, as Forward pushes them
	for i := range levels {
		c := cfg.BlockOutChannels[i]
		cross := cfg.DownBlockTypes[i] == unet.CrossAttnDownBlock2D
		for j := range cfg.LayersPerBlock {
			rows = append(rows, row(fmt.Sprintf("down%d.resnet%d", i, j), []int{b, c, h, w}, "ResnetBlock2D (+ time embedding)"))
			if cross {
				rows = append(rows, row(fmt.Sprintf("down%d.attn%d", i, j), []int{b, c, h, w}, fmt.Sprintf("Transformer2D: %d tokens attend to the 77 of the prompt", h*w)))
			}
			skips = append(skips, c)
		}
		what := "level output (no downsampler at the last level)"
		if i < levels-1 {
			h, w = (h+1)/2, (w+1)/2
			what = "stride-2 conv: half the resolution"
			skips = append(skips, c)
		}
		rows = append(rows, row(fmt.Sprintf("down%d", i), []int{b, c, h, w}, what))
	}
	cm := cfg.BlockOutChannels[levels-1]
	rows = append(rows,
		row("mid.resnet0", []int{b, cm, h, w}, "ResnetBlock2D"),
		row("mid.attn0", []int{b, cm, h, w}, "Transformer2D at the lowest resolution"),
		row("mid", []int{b, cm, h, w}, "ResnetBlock2D"),
	)
	for i := range levels {
		c := cfg.BlockOutChannels[levels-1-i]
		cross := cfg.UpBlockTypes[i] == unet.CrossAttnUpBlock2D
		for j := range cfg.LayersPerBlock + 1 {
			in := rows[len(rows)-1].Shape[1]
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			what := fmt.Sprintf("concat a %d-channel skip (%d in), ResnetBlock2D", skip, in+skip)
			rows = append(rows, shapeRow{fmt.Sprintf("up%d.resnet%d", i, j), []int{b, c, h, w}, what, in + skip})
			if cross {
				rows = append(rows, row(fmt.Sprintf("up%d.attn%d", i, j), []int{b, c, h, w}, fmt.Sprintf("Transformer2D: %d tokens", h*w)))
			}
		}
		what := "level output (no upsampler at the top)"
		if i < levels-1 {
			h, w = 2*h, 2*w
			what = "nearest ×2, 3×3 conv"
		}
		rows = append(rows, row(fmt.Sprintf("up%d", i), []int{b, c, h, w}, what))
	}
	rows = append(rows,
		row("conv_norm_out", []int{b, c0, h, w}, "GroupNorm"),
		row("(output)", []int{b, cfg.OutChannels, h, w}, "SiLU, 3×3 conv: the predicted noise"),
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
