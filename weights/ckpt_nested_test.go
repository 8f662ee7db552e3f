package weights

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
)

// An AUTOMATIC1111 embedding keeps its tensor one dict deep:
// {"string_to_param": {"*": tensor}, "string_to_token": {"*": 265}, "name": …}.
func TestCkptNestedDict(t *testing.T) {
	c, err := OpenCkpt(filepath.Join(testdata.Dir(t, "lora"), "emb_a1111.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Names(); !reflect.DeepEqual(got, []string{"string_to_param.*"}) {
		t.Fatalf("names %q", got)
	}
	x, err := c.Tensor("string_to_param.*")
	if err != nil || !reflect.DeepEqual(x.Shape, []int{2, 32}) {
		t.Fatalf("tensor %v, %v", x, err)
	}
}

// UNetNamesToLDM gives the original names of the reference's map
// (../shared/testdata/lora/README.md), read from diffusers names alone.
func TestUNetNamesToLDM(t *testing.T) {
	names := []string{
		"conv_in.weight", "time_embedding.linear_2.weight", "conv_out.weight",
		"down_blocks.0.resnets.0.conv1.weight", "down_blocks.0.resnets.1.conv1.weight", "down_blocks.0.attentions.1.proj_in.weight",
		"down_blocks.0.downsamplers.0.conv.weight", "down_blocks.1.resnets.0.conv_shortcut.weight", "down_blocks.1.resnets.1.conv1.weight",
		"mid_block.resnets.1.time_emb_proj.weight", "mid_block.attentions.0.proj_out.weight",
		"up_blocks.0.resnets.2.conv2.weight", "up_blocks.0.upsamplers.0.conv.weight",
		"up_blocks.1.attentions.2.proj_in.weight", "up_blocks.1.resnets.0.conv1.weight",
	}
	want := map[string]string{
		"conv_in.weight":                               "input_blocks.0.0.weight",
		"time_embedding.linear_2.weight":               "time_embed.2.weight",
		"conv_out.weight":                              "out.2.weight",
		"down_blocks.0.attentions.1.proj_in.weight":    "input_blocks.2.1.proj_in.weight",
		"down_blocks.0.downsamplers.0.conv.weight":     "input_blocks.3.0.op.weight",
		"down_blocks.1.resnets.0.conv_shortcut.weight": "input_blocks.4.0.skip_connection.weight",
		"mid_block.resnets.1.time_emb_proj.weight":     "middle_block.2.emb_layers.1.weight",
		"mid_block.attentions.0.proj_out.weight":       "middle_block.1.proj_out.weight",
		"up_blocks.0.resnets.2.conv2.weight":           "output_blocks.2.0.out_layers.3.weight",
		"up_blocks.0.upsamplers.0.conv.weight":         "output_blocks.2.1.conv.weight", // up block 0 has no attentions
		"up_blocks.1.attentions.2.proj_in.weight":      "output_blocks.5.1.proj_in.weight",
	}
	got := UNetNamesToLDM(names)
	for d, l := range want {
		if got[d] != l {
			t.Errorf("%s -> %s, want %s", d, got[d], l)
		}
	}
}
