package vae

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sdgo/sdgo/weights"
)

// View presents a VAE checkpoint under diffusers' names, whatever its layout:
// diffusers (decoder.up_blocks.0.resnets.0.…) or the original LDM one
// (decoder.up.3.block.0.…), either bare or under first_stage_model. (a full
// SD checkpoint) or vae. (a merged diffusers file).
func View(src weights.Source) (weights.Source, error) {
	for _, prefix := range []string{"", "first_stage_model.", "vae."} {
		var s weights.Source = src
		if prefix != "" {
			s = weights.Prefixed(src, prefix)
		}
		switch {
		case has(s, "decoder.mid_block.resnets.0.conv1.weight"):
			return s, nil
		case has(s, "decoder.mid.block_1.conv1.weight"):
			return fromLDM(s), nil
		}
	}
	return nil, fmt.Errorf("vae: no VAE decoder found (looked for decoder.mid_block.* and decoder.mid.*, bare, under first_stage_model. and vae.)")
}

func has(s weights.Source, name string) bool {
	_, ok := s.Info(name)
	return ok
}

// fromLDM is a view of an LDM-named VAE (no prefix) under diffusers' names.
// The LDM decoder numbers its levels from the highest resolution
// (up.0 is the last to run); diffusers from the lowest (up_blocks.0 runs
// first): up_blocks.i = up.{n-1-i}.
func fromLDM(src weights.Source) weights.Source {
	levels := 0
	for _, n := range src.Names() {
		if rest, ok := strings.CutPrefix(n, "decoder.up."); ok {
			if i, err := strconv.Atoi(rest[:strings.IndexByte(rest+".", '.')]); err == nil {
				levels = max(levels, i+1)
			}
		}
	}
	toSrc := map[string]string{}
	for _, n := range src.Names() {
		if d := ldmToDiffusers(n, levels); d != "" {
			toSrc[d] = n
		}
	}
	return &weights.Renamed{
		Src:        src,
		ToSource:   func(n string) string { return toSrc[n] },
		FromSource: func(n string) string { return ldmToDiffusers(n, levels) },
	}
}

// ldmToDiffusers maps one LDM VAE name to its diffusers name, or "" for
// names that are not part of the autoencoder (loss.*, EMA buffers).
func ldmToDiffusers(name string, levels int) string {
	seg := strings.Split(name, ".")
	if len(seg) < 2 {
		return ""
	}
	switch seg[0] {
	case "quant_conv", "post_quant_conv":
		return name
	case "encoder", "decoder":
	default:
		return ""
	}
	var out []string
	out = append(out, seg[0])
	rest := seg[1:]
	switch rest[0] {
	case "conv_in", "conv_out":
		out = append(out, rest...)
		return strings.Join(out, ".")
	case "norm_out":
		out = append(out, "conv_norm_out")
		out = append(out, rest[1:]...)
		return strings.Join(out, ".")
	case "mid":
		if len(rest) < 3 {
			return ""
		}
		switch rest[1] {
		case "block_1", "block_2":
			out = append(out, "mid_block", "resnets", strconv.Itoa(int(rest[1][6]-'1')))
			return resnetTail(out, rest[2:])
		case "attn_1":
			tail := map[string]string{"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}[rest[2]]
			if tail == "" {
				return ""
			}
			out = append(out, "mid_block", "attentions", "0", tail)
			out = append(out, rest[3:]...)
			return strings.Join(out, ".")
		}
		return ""
	case "down", "up":
		if len(rest) < 4 {
			return ""
		}
		i, err := strconv.Atoi(rest[1])
		if err != nil {
			return ""
		}
		block := "down_blocks"
		if rest[0] == "up" {
			block, i = "up_blocks", levels-1-i
		}
		out = append(out, block, strconv.Itoa(i))
		switch rest[2] {
		case "block":
			out = append(out, "resnets", rest[3])
			return resnetTail(out, rest[4:])
		case "downsample":
			out = append(out, "downsamplers", "0")
		case "upsample":
			out = append(out, "upsamplers", "0")
		default:
			return ""
		}
		out = append(out, rest[3:]...)
		return strings.Join(out, ".")
	}
	return ""
}

// resnetTail appends a resnet's parameter name, renaming nin_shortcut.
func resnetTail(out, tail []string) string {
	if len(tail) > 0 && tail[0] == "nin_shortcut" {
		tail = append([]string{"conv_shortcut"}, tail[1:]...)
	}
	return strings.Join(append(out, tail...), ".")
}
