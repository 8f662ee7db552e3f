package unet

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

// The unet/config.json files of runwayml/stable-diffusion-v1-5 and
// stabilityai/stable-diffusion-2-1 (fields in their order).
const (
	sd15JSON = `{
  "_class_name": "UNet2DConditionModel",
  "_diffusers_version": "0.6.0",
  "act_fn": "silu",
  "attention_head_dim": 8,
  "block_out_channels": [320, 640, 1280, 1280],
  "center_input_sample": false,
  "cross_attention_dim": 768,
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "downsample_padding": 1,
  "flip_sin_to_cos": true,
  "freq_shift": 0,
  "in_channels": 4,
  "layers_per_block": 2,
  "mid_block_scale_factor": 1,
  "norm_eps": 1e-05,
  "norm_num_groups": 32,
  "out_channels": 4,
  "sample_size": 64,
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
}`
	sd21JSON = `{
  "_class_name": "UNet2DConditionModel",
  "_diffusers_version": "0.10.0.dev0",
  "act_fn": "silu",
  "attention_head_dim": [5, 10, 20, 20],
  "block_out_channels": [320, 640, 1280, 1280],
  "center_input_sample": false,
  "cross_attention_dim": 1024,
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "downsample_padding": 1,
  "dual_cross_attention": false,
  "flip_sin_to_cos": true,
  "freq_shift": 0,
  "in_channels": 4,
  "layers_per_block": 2,
  "mid_block_scale_factor": 1,
  "norm_eps": 1e-05,
  "norm_num_groups": 32,
  "num_class_embeds": null,
  "only_cross_attention": false,
  "out_channels": 4,
  "sample_size": 96,
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  "upcast_attention": true,
  "use_linear_projection": true
}`
)

func TestParseConfigPresets(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string
		want Config
	}{
		{"SD 1.5", sd15JSON, SD15()},
		{"SD 2.1", sd21JSON, SD21()},
	} {
		got, err := ParseConfig([]byte(tc.json))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: parsed\n%+v\nwant the preset\n%+v", tc.name, got, tc.want)
		}
	}
}

func TestReadConfigReference(t *testing.T) {
	for _, tc := range []struct {
		dir   string
		heads []int
		proj  bool
		ctx   int
	}{
		{"unet", []int{8, 8, 8}, false, 32},
		{"unet/sd2", []int{2, 2, 4}, true, 64},
	} {
		cfg, err := ReadConfig(filepath.Join(testdata.Dir(t, tc.dir), "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.Heads, tc.heads) || cfg.UseLinearProjection != tc.proj || cfg.CrossAttentionDim != tc.ctx {
			t.Errorf("%s: heads %v, linear projection %v, context %d; want %v, %v, %d",
				tc.dir, cfg.Heads, cfg.UseLinearProjection, cfg.CrossAttentionDim, tc.heads, tc.proj, tc.ctx)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		edit string // appended to the SD 1.5 config
		want string // in the error
	}{
		{`"act_fn": "gelu"`, "act_fn"},
		{`"num_attention_heads": 8`, "num_attention_heads"},
		{`"addition_embed_type": "image"`, "addition_embed_type"},
		{`"class_embed_type": "timestep"`, "class_embed_type"},
		{`"time_cond_proj_dim": 256`, "time_cond_proj_dim"},
		{`"resnet_time_scale_shift": "scale_shift"`, "resnet_time_scale_shift"},
		{`"only_cross_attention": true`, "only_cross_attention"},
		{`"mid_block_type": "UNetMidBlock2DSimpleCrossAttn"`, "mid_block_type"},
		{`"transformer_layers_per_block": [1, 2]`, "transformer_layers_per_block"},
		{`"layers_per_block": [1, 2, 2, 2]`, "layers_per_block"},
		{`"norm_num_groups": 30`, "norm_num_groups"},
		{`"attention_head_dim": 7`, "heads"},
		{`"attention_head_dim": "8"`, "attention_head_dim"},
		{`"up_block_types": ["UpBlock2D"]`, "up block types"},
		{`"down_block_types": ["CrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]`, "down_block_types[1]"},
		{`"act_fn": silu`, "invalid character"},
	} {
		// The last of repeated keys wins in encoding/json, so an appended key overrides.
		j := strings.TrimSuffix(sd15JSON, "\n}") + ",\n" + tc.edit + "\n}"
		_, err := ParseConfig([]byte(j))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.edit, err, tc.want)
		}
	}
}

// FuzzParseConfig checks that no config.json makes ParseConfig panic.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{sd15JSON, sd21JSON, `{}`, `{"block_out_channels": []}`, `{"block_out_channels": [32], "attention_head_dim": [0]}`,
		`{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
		  "addition_embed_type": "text_time", "addition_time_embed_dim": 8, "projection_class_embeddings_input_dim": 96, "transformer_layers_per_block": [1, 2]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := ParseConfig([]byte(s)); err == nil {
			if err := c.Validate(); err != nil {
				t.Errorf("ParseConfig accepted a config Validate rejects: %v", err)
			}
		}
	})
}
