package vae

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

func TestTAESD(t *testing.T) {
	io := openRef(t, "taesd/random_arch/io.safetensors")
	dec, err := LoadTinyDecoder(openRef(t, "taesd/random_arch/taesd_decoder.fp16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := LoadTinyEncoder(openRef(t, "taesd/random_arch/taesd_encoder.fp16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "decode_out", dec.Forward(refTensor(t, io, "decode_in")), refTensor(t, io, "decode_out"), tol)
	compare(t, "photo_latents", enc.Forward(refTensor(t, io, "photo_in")), refTensor(t, io, "photo_latents"), tol)
	compare(t, "photo_decoded", dec.Forward(refTensor(t, io, "photo_latents")), refTensor(t, io, "photo_decoded"), tol)

	// The same through the [-1, 1] methods.
	x := refTensor(t, io, "photo_in")
	for i, v := range x.Data {
		x.Data[i] = 2*v - 1
	}
	z, err := enc.Encode(x)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "Encode(2·photo_in−1)", z, refTensor(t, io, "photo_latents"), tol)
	y, err := dec.DecodeLatents(refTensor(t, io, "photo_latents"))
	if err != nil {
		t.Fatal(err)
	}
	want := refTensor(t, io, "photo_decoded")
	for i, v := range want.Data {
		want.Data[i] = 2*v - 1
	}
	compare(t, "DecodeLatents", y, want, 2*tol)
}

// TestTAESDDiffusersNames loads the same weights under diffusers'
// AutoencoderTiny names (through the reference's key map) and checks that
// both layouts give identical models.
func TestTAESDDiffusersNames(t *testing.T) {
	data, err := os.ReadFile(testdata.Path(t, "taesd/random_arch/keymap_taesd_to_diffusers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var keymap map[string]string // "decoder:3.conv.0.weight" -> "decoder.layers.2.conv.0.weight"
	if err := json.Unmarshal(data, &keymap); err != nil {
		t.Fatal(err)
	}
	files := map[string]*weights.File{
		"encoder": openRef(t, "taesd/random_arch/taesd_encoder.fp16.safetensors"),
		"decoder": openRef(t, "taesd/random_arch/taesd_decoder.fp16.safetensors"),
	}
	var srcs weights.Multi
	for half, f := range files {
		to, from := map[string]string{}, map[string]string{}
		for k, d := range keymap {
			if h, name, _ := strings.Cut(k, ":"); h == half {
				to[d], from[name] = name, d
			}
		}
		srcs = append(srcs, &weights.Renamed{Src: f,
			ToSource:   func(n string) string { return to[n] },
			FromSource: func(n string) string { return from[n] }})
	}
	for half, load := range map[string]func(weights.Source) (any, error){
		"decoder": func(s weights.Source) (any, error) { return LoadTinyDecoder(s) },
		"encoder": func(s weights.Source) (any, error) { return LoadTinyEncoder(s) },
	} {
		want, err := load(files[half])
		if err != nil {
			t.Fatal(err)
		}
		got, err := load(srcs)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: diffusers-named weights load differently", half)
		}
	}
}

func TestTAESDErrors(t *testing.T) {
	vaeFile := openRef(t, "vae/diffusion_pytorch_model.safetensors")
	if _, err := LoadTinyDecoder(vaeFile); err == nil {
		t.Error("LoadTinyDecoder of an AutoencoderKL: no error")
	}
	if _, err := LoadTinyEncoder(vaeFile); err == nil {
		t.Error("LoadTinyEncoder of an AutoencoderKL: no error")
	}
	dec, err := LoadTinyDecoder(openRef(t, "taesd/random_arch/taesd_decoder.fp16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.DecodeLatents(nn.New(1, 3, 4, 4)); err == nil {
		t.Error("DecodeLatents of 3-channel latents: no error")
	}
	enc, err := LoadTinyEncoder(openRef(t, "taesd/random_arch/taesd_encoder.fp16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(nn.New(1, 3, 12, 16)); err == nil {
		t.Error("Encode of a 12-row image: no error")
	}
}
