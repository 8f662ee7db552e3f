package lora

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sdgo/sdgo/nn"
	"github.com/sdgo/sdgo/weights"
)

// Kind is the algorithm of one adapter module.
type Kind int

// The kinds of module.
const (
	LoRA Kind = iota // up·down (kohya LoRA and LoCon, PEFT, diffusers)
	LoHa             // LyCORIS Hadamard product
	LoKr             // LyCORIS Kronecker product
	Full             // a whole stored Δ ("diff")
)

// String names the kind as LyCORIS does.
func (k Kind) String() string {
	switch k {
	case LoRA:
		return "LoRA"
	case LoHa:
		return "LoHa"
	case LoKr:
		return "LoKr"
	case Full:
		return "full"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Module is one module of an adapter file: the factors of one weight's Δ.
type Module struct {
	// Key is the module's name in the file without the part:
	// "lora_unet_down_blocks_0_attentions_0_proj_in",
	// "unet.down_blocks.0.attentions.0.proj_in".
	Key  string
	Kind Kind
	// Parts holds the factors by canonical part name: "down", "up" (LoRA),
	// "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b" (LoHa), "lokr_w1",
	// "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b" (LoKr),
	// "diff" (Full). Values are float32: fp16 and bf16 files upcast exactly.
	Parts map[string]*nn.Tensor
	// Alpha is the stored alpha; HasAlpha is false when the file has none
	// (PEFT, diffusers), which means scale 1.
	Alpha    float64
	HasAlpha bool
	// Names maps each part to the tensor's full name in the file, for errors.
	Names map[string]string
}

// Adapter is one LoRA or LyCORIS file, read.
type Adapter struct {
	Name    string // the file name without extension: what <lora:NAME:W> calls it
	Path    string
	Modules []*Module
	// Unknown lists the file's tensors that are no part of any module kind
	// this package knows (Tucker cores, DoRA scales, bias diffs, …).
	Unknown  []string
	Metadata map[string]string
	// Hash is AUTOMATIC1111's hash of the file: the sha256 of a safetensors
	// file's data after its header (kohya-ss's "addnet" hash), of the whole
	// file otherwise, in hex. The prompt's "Lora hashes" record its first
	// 12 digits.
	Hash string
}

// ShortHash is the first 12 hex digits of the hash, as AUTOMATIC1111
// writes them into an image's parameters.
func (a *Adapter) ShortHash() string {
	if len(a.Hash) < 12 {
		return a.Hash
	}
	return a.Hash[:12]
}

// suffixes maps a tensor-name ending to its canonical part. Longer endings
// come first where one ends another.
var suffixes = []struct{ suffix, part string }{
	{".lora_down.weight", "down"},
	{".lora_up.weight", "up"},
	{".lora_A.weight", "down"},
	{".lora_B.weight", "up"},
	{".lora.down.weight", "down"},
	{".lora.up.weight", "up"},
	{".lora_linear_layer.down.weight", "down"},
	{".lora_linear_layer.up.weight", "up"},
	{".hada_w1_a", "hada_w1_a"},
	{".hada_w1_b", "hada_w1_b"},
	{".hada_w2_a", "hada_w2_a"},
	{".hada_w2_b", "hada_w2_b"},
	{".lokr_w1_a", "lokr_w1_a"},
	{".lokr_w1_b", "lokr_w1_b"},
	{".lokr_w2_a", "lokr_w2_a"},
	{".lokr_w2_b", "lokr_w2_b"},
	{".lokr_w1", "lokr_w1"},
	{".lokr_w2", "lokr_w2"},
	{".diff", "diff"},
	{".alpha", "alpha"},
}

// splitName splits a tensor name into its module key and canonical part.
func splitName(name string) (key, part string, ok bool) {
	for _, s := range suffixes {
		if k, found := strings.CutSuffix(name, s.suffix); found && k != "" {
			return k, s.part, true
		}
	}
	return "", "", false
}

// Open reads an adapter file: .safetensors, or a PyTorch .ckpt/.pt/.pth/.bin
// (through the safe unpickler). The format is told from the tensor names.
func Open(path string) (*Adapter, error) {
	src, closeFn, err := weights.OpenAny(path)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	defer closeFn()
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	a, err := FromSource(name, src)
	if err != nil {
		return nil, fmt.Errorf("lora %s: %w", path, err)
	}
	a.Path = path
	if f, ok := src.(*weights.File); ok {
		a.Metadata = f.Metadata
	}
	if a.Hash, err = fileHash(path, strings.EqualFold(filepath.Ext(path), ".safetensors")); err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	return a, nil
}

// fileHash is AUTOMATIC1111's hash of an adapter file (see Adapter.Hash).
func fileHash(path string, safetensors bool) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if safetensors {
		var n uint64
		if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if _, err := f.Seek(int64(8+n), io.SeekStart); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// FromSource reads the adapter modules of src, naming the adapter name. It
// fails when a module lacks a factor its kind needs, or a tensor is not
// floating point; tensors it does not know go to Adapter.Unknown.
func FromSource(name string, src weights.Source) (*Adapter, error) {
	a := &Adapter{Name: name}
	byKey := map[string]*Module{}
	names := append([]string(nil), src.Names()...)
	sort.Strings(names)
	for _, n := range names {
		key, part, ok := splitName(n)
		if !ok {
			a.Unknown = append(a.Unknown, n)
			continue
		}
		in, _ := src.Info(n)
		if !in.DType.Float() {
			return nil, fmt.Errorf("tensor %s: dtype %s, want a floating-point type", n, in.DType)
		}
		t, err := src.Tensor(n)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", n, err)
		}
		m := byKey[key]
		if m == nil {
			m = &Module{Key: key, Parts: map[string]*nn.Tensor{}, Names: map[string]string{}}
			byKey[key] = m
			a.Modules = append(a.Modules, m)
		}
		if part == "alpha" {
			if len(t.Data) != 1 {
				return nil, fmt.Errorf("tensor %s: alpha has shape %v, want a scalar", n, t.Shape)
			}
			m.Alpha, m.HasAlpha = float64(t.Data[0]), true
			continue
		}
		m.Parts[part] = t
		m.Names[part] = n
	}
	var kept []*Module
	for _, m := range a.Modules {
		if len(m.Parts) == 0 { // an alpha alone
			a.Unknown = append(a.Unknown, m.Key+".alpha")
			continue
		}
		if err := m.classify(); err != nil {
			return nil, err
		}
		kept = append(kept, m)
	}
	a.Modules = kept
	return a, nil
}

// classify sets the module's kind from its parts and checks that it has
// every factor the kind needs, each a matrix or a conv weight.
func (m *Module) classify() error {
	has := func(p string) bool { return m.Parts[p] != nil }
	need := func(parts ...string) error {
		for _, p := range parts {
			if !has(p) {
				return fmt.Errorf("module %s (%s): part %s is missing", m.Key, m.Kind, p)
			}
		}
		return nil
	}
	var err error
	switch {
	case has("down") || has("up"):
		m.Kind, err = LoRA, need("down", "up")
	case has("hada_w1_a") || has("hada_w1_b") || has("hada_w2_a") || has("hada_w2_b"):
		m.Kind, err = LoHa, need("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")
	case has("lokr_w1") || has("lokr_w1_a") || has("lokr_w1_b") || has("lokr_w2") || has("lokr_w2_a") || has("lokr_w2_b"):
		m.Kind = LoKr
		if !has("lokr_w1") {
			err = need("lokr_w1_a", "lokr_w1_b")
		}
		if err == nil && !has("lokr_w2") {
			err = need("lokr_w2_a", "lokr_w2_b")
		}
	case has("diff"):
		m.Kind = Full
	}
	if err != nil {
		return err
	}
	for p, t := range m.Parts {
		if len(t.Shape) < 1 || len(t.Shape) > 4 || nn.Numel(t.Shape) == 0 {
			return fmt.Errorf("tensor %s: shape %v, want a matrix or a convolution weight", m.Names[p], t.Shape)
		}
	}
	return nil
}
