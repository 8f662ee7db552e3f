package pipeline

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sdgo/sdgo/lora"
	"github.com/sdgo/sdgo/prompt"
	"github.com/sdgo/sdgo/weights"
)

// This file applies the adapters a generation asks for: LoRA and LyCORIS
// files named in the prompt as <lora:NAME:W> (from LoadOptions.LoraDir) or
// given in Options.Loras, and the textual-inversion embeddings of
// LoadOptions.EmbeddingDir whose trigger words the prompts hold.
//
// LoRAs are merged into private copies of the weights they touch (package
// lora); the model's memory-mapped weights stay shared and untouched. The
// model keeps the last set applied: a generation with the same set (same
// files, same multipliers) reuses it, another set first undoes it exactly.
// Generations that need different sets wait for each other.

// LoraFile is a LoRA file given by path, with its multiplier (the sdgo
// command's --lora FILE[:W]).
type LoraFile struct {
	Path       string
	Multiplier float64
}

// LoraInfo describes one adapter file of the LoRA folder.
type LoraInfo struct {
	Name     string            // what <lora:NAME:W> calls it: the file name without extension
	Alias    string            // the training's output name (metadata ss_output_name), or Name
	Path     string            // the file
	Metadata map[string]string // a safetensors file's __metadata__
}

// loraExts are the adapter file extensions, in order of preference when
// two files share a name.
var loraExts = []string{".safetensors", ".ckpt", ".pt", ".pth", ".bin"}

// embeddingExts are the textual-inversion file extensions.
var embeddingExts = []string{".pt", ".safetensors", ".bin"}

// Loras lists the adapter files of the model's LoRA folder
// (LoadOptions.LoraDir, searched with its subfolders), sorted by name.
func (m *Model) Loras() ([]LoraInfo, error) {
	files, err := scanDir(m.loraDir, loraExts)
	if err != nil {
		return nil, err
	}
	var out []LoraInfo
	for name, path := range files {
		info := LoraInfo{Name: name, Alias: name, Path: path}
		if strings.EqualFold(filepath.Ext(path), ".safetensors") {
			if f, err := weights.Open(path); err == nil {
				info.Metadata = f.Metadata
				if a := f.Metadata["ss_output_name"]; a != "" {
					info.Alias = a
				}
				f.Close()
			}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// scanDir maps the base names (without extension) of dir's files with one
// of exts, searched recursively, to their paths. A name found twice keeps
// the file of the earlier extension, then the shorter path.
func scanDir(dir string, exts []string) (map[string]string, error) {
	out := map[string]string{}
	if dir == "" {
		return out, nil
	}
	rank := func(path string) int {
		for i, e := range exts {
			if strings.EqualFold(filepath.Ext(path), e) {
				return i
			}
		}
		return -1
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || rank(path) < 0 {
			return nil
		}
		name := strings.TrimSuffix(d.Name(), filepath.Ext(d.Name()))
		if old, ok := out[name]; !ok || rank(path) < rank(old) || rank(path) == rank(old) && len(path) < len(old) {
			out[name] = path
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lora folder: %w", err)
	}
	return out, nil
}

// loraTag is AUTOMATIC1111's extra-network syntax <type:args>
// (modules/extra_networks.py).
var loraTag = regexp.MustCompile(`<(\w+):([^>]+)>`)

// loraRef is one <lora:NAME:W> (or <lora:NAME:TE:UNET>) of a prompt.
type loraRef struct {
	name       string
	multiplier float64
	unet       *float64 // the U-Net's own multiplier, when given
}

// parseLoraTags removes every <type:args> tag from prompt, as
// AUTOMATIC1111 does, and returns the text and the lora (or lyco) ones.
// Tags of other types (hypernet, …) are removed and reported in other.
func parseLoraTags(prompt string) (text string, refs []loraRef, other []string, err error) {
	for _, m := range loraTag.FindAllStringSubmatch(prompt, -1) {
		kind, args := m[1], strings.Split(m[2], ":")
		if kind != "lora" && kind != "lyco" {
			other = append(other, m[0])
			continue
		}
		r := loraRef{name: args[0], multiplier: 1}
		if len(args) > 3 {
			return "", nil, nil, fmt.Errorf("prompt: %s: want <lora:NAME:W> or <lora:NAME:TE:UNET>", m[0])
		}
		if len(args) >= 2 {
			if r.multiplier, err = strconv.ParseFloat(strings.TrimSpace(args[1]), 64); err != nil {
				return "", nil, nil, fmt.Errorf("prompt: %s: multiplier %q is not a number", m[0], args[1])
			}
			if err := LoRAWeightRange.Check(r.multiplier); err != nil {
				return "", nil, nil, fmt.Errorf("prompt: %s: the multiplier %w", m[0], err)
			}
		}
		if len(args) == 3 {
			u, err := strconv.ParseFloat(strings.TrimSpace(args[2]), 64)
			if err != nil {
				return "", nil, nil, fmt.Errorf("prompt: %s: U-Net multiplier %q is not a number", m[0], args[2])
			}
			if err := LoRAWeightRange.Check(u); err != nil {
				return "", nil, nil, fmt.Errorf("prompt: %s: the U-Net multiplier %w", m[0], err)
			}
			r.unet = &u
		}
		if r.name == "" {
			return "", nil, nil, fmt.Errorf("prompt: %s: no LoRA name", m[0])
		}
		refs = append(refs, r)
	}
	return StripExtraNetworks(prompt), refs, other, nil
}

// StripExtraNetworks removes every <type:args> tag (<lora:…>, <lyco:…>,
// <hypernet:…>) from prompt: the text the text encoder reads.
func StripExtraNetworks(prompt string) string { return loraTag.ReplaceAllString(prompt, "") }

// adapterState is a model's record of its adapters.
type adapterState struct {
	mu      sync.RWMutex // held for reading by each generation, for writing to change the set
	applied string       // the key of the set applied
	patch   *lora.Patch
	index   *lora.Index

	cacheMu sync.Mutex
	files   map[string]cachedFile // by path: adapters and embeddings read
}

type cachedFile struct {
	mod     time.Time
	size    int64
	adapter *lora.Adapter
	embeds  []*lora.Embedding
}

// readCached returns the file's adapter (or embeddings), read again only
// when the file changed.
func (m *Model) readCached(path string, embedding bool) (*lora.Adapter, []*lora.Embedding, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	s := m.adapters
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if c, ok := s.files[path]; ok && c.mod.Equal(st.ModTime()) && c.size == st.Size() && (c.adapter != nil) != embedding {
		return c.adapter, c.embeds, nil
	}
	c := cachedFile{mod: st.ModTime(), size: st.Size()}
	if embedding {
		c.embeds, err = lora.OpenEmbedding(path)
	} else {
		c.adapter, err = lora.Open(path)
	}
	if err != nil {
		return nil, nil, err
	}
	if s.files == nil {
		s.files = map[string]cachedFile{}
	}
	s.files[path] = c
	return c.adapter, c.embeds, nil
}

// generation is what prepareAdapters found for one generation.
type generation struct {
	prompt  string     // the prompt without its <lora:…> tags
	uses    []lora.Use // the adapters, in the prompt's order then Options.Loras'
	labels  []string   // the names the prompt used, for the parameters
	embeds  []*lora.Embedding
	release func() // ends the generation's hold on the adapter set
}

// prepareAdapters parses o's LoRA tags, reads the files, applies the set
// (unless it is applied already) and holds it until release.
func (m *Model) prepareAdapters(o Options) (*generation, error) {
	g := &generation{release: func() {}}
	text, refs, other, err := parseLoraTags(o.Prompt)
	if err != nil {
		return nil, err
	}
	g.prompt = text
	if len(other) > 0 && o.Warn != nil {
		o.Warn(fmt.Sprintf("prompt: %d extra-network tags of kinds sdgo does not know were removed: %s", len(other), strings.Join(other, " ")))
	}
	if len(refs) > 0 {
		files, err := scanDir(m.loraDir, loraExts)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			path, ok := files[r.name]
			if !ok {
				err := fmt.Errorf("prompt: <lora:%s>: no file %s.safetensors (or .ckpt, .pt) in the LoRA folder %q (--lora-model-dir)", r.name, r.name, m.loraDir)
				if m.loraDir == "" {
					err = fmt.Errorf("prompt: <lora:%s>: no LoRA folder is set (--lora-model-dir)", r.name)
				}
				if !o.LoraSkipUnknown {
					return nil, err
				}
				if o.Warn != nil {
					o.Warn(err.Error() + "; skipped")
				}
				continue
			}
			a, _, err := m.readCached(path, false)
			if err != nil {
				return nil, err
			}
			if err := m.checkAdapter(a); err != nil {
				return nil, fmt.Errorf("prompt: <lora:%s>: %w", r.name, err) // even with LoraSkipUnknown
			}
			g.uses = append(g.uses, lora.Use{Adapter: a, Multiplier: r.multiplier, UNet: r.unet})
			g.labels = append(g.labels, r.name)
		}
	}
	for _, f := range o.Loras {
		if err := LoRAWeightRange.Check(f.Multiplier); err != nil {
			return nil, fmt.Errorf("--lora %s: the weight %w", f.Path, err)
		}
		a, _, err := m.readCached(f.Path, false)
		if err != nil {
			return nil, fmt.Errorf("--lora: %w", err)
		}
		if err := m.checkAdapter(a); err != nil {
			return nil, fmt.Errorf("--lora: %w", err) // even with LoraSkipUnknown
		}
		g.uses = append(g.uses, lora.Use{Adapter: a, Multiplier: f.Multiplier})
		g.labels = append(g.labels, a.Name)
	}
	if g.embeds, err = m.loadEmbeddings(o.Warn); err != nil {
		return nil, err
	}
	if err := m.hold(g, o); err != nil {
		return nil, err
	}
	return g, nil
}

// setKey identifies a set of adapters with their multipliers.
func setKey(uses []lora.Use) string {
	var parts []string
	for _, u := range uses {
		un := u.Multiplier
		if u.UNet != nil {
			un = *u.UNet
		}
		if u.Multiplier != 0 || un != 0 {
			parts = append(parts, fmt.Sprintf("%s|%s|%g|%g", u.Adapter.Path, u.Adapter.Hash, u.Multiplier, un))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

// hold applies g's set of adapters when another set is applied, and holds
// it (a read lock) until g.release.
func (m *Model) hold(g *generation, o Options) error {
	s := m.adapters
	key := setKey(g.uses)
	if o.LoraSkipUnknown {
		key += "\nskip"
	}
	for {
		s.mu.RLock()
		if s.applied == key || key == "" && s.patch == nil {
			g.release = s.mu.RUnlock
			return nil
		}
		s.mu.RUnlock()
		s.mu.Lock()
		if s.applied != key {
			s.patch.Undo()
			s.patch, s.applied = nil, ""
			if len(g.uses) > 0 {
				if s.index == nil {
					s.index = m.adapterIndex()
				}
				p, err := lora.Apply(s.index, g.uses, o.LoraSkipUnknown)
				if err != nil {
					s.mu.Unlock()
					return err
				}
				if p.Skipped > 0 && o.Warn != nil {
					o.Warn(fmt.Sprintf("lora: %d modules skipped (--lora-skip-unknown): not in this model, or shaped for another one", p.Skipped))
				}
				s.patch = p
			}
			s.applied = key
		}
		s.mu.Unlock()
	}
}

// adapterIndex indexes the weights adapters may change: the U-Net's and
// the text encoder's, and SDXL's second text encoder's. When the U-Net's
// mapped pages are streamed (see LoadOptions.Resident), the merge gives
// the pages it reads back as it goes.
func (m *Model) adapterIndex() *lora.Index {
	var ix *lora.Index
	if m.Text2 != nil {
		ix = lora.NewIndexSDXL(m.UNet.Weights, m.Text.Weights, m.Text2.Weights)
	} else {
		ix = lora.NewIndex(m.UNet.Weights, m.Text.Weights)
	}
	if m.UNet.BlockDone != nil {
		ix.Release = func() { m.ReleasePages() }
	}
	return ix
}

// loadEmbeddings reads the embedding folder's files (cached while they do
// not change). Files that are no embedding are skipped with a warning.
func (m *Model) loadEmbeddings(warn func(string)) ([]*lora.Embedding, error) {
	files, err := scanDir(m.embeddingDir, embeddingExts)
	if err != nil {
		return nil, fmt.Errorf("embedding folder: %w", err)
	}
	var paths []string
	for _, p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []*lora.Embedding
	for _, p := range paths {
		_, e, err := m.readCached(p, true)
		if err != nil {
			if warn != nil {
				warn(fmt.Sprintf("embedding folder: skipped %v", err))
			}
			continue
		}
		out = append(out, e...)
	}
	return out, nil
}

// adapterParameters renders AUTOMATIC1111's "Lora hashes" and "TI hashes"
// fields: `, Lora hashes: "name: 0123456789ab, name2: …"`.
func (g *generation) parameters(usedTI map[*lora.Embedding]bool) string {
	if g == nil {
		return ""
	}
	var b strings.Builder
	clean := strings.NewReplacer(":", "", ",", "")
	var items []string
	for i, u := range g.uses {
		items = append(items, clean.Replace(g.labels[i])+": "+u.Adapter.ShortHash())
	}
	if len(items) > 0 {
		fmt.Fprintf(&b, ", Lora hashes: %q", strings.Join(items, ", "))
	}
	items = nil
	for _, e := range g.embeds {
		if usedTI[e] {
			items = append(items, clean.Replace(e.Trigger)+": "+e.ShortHash())
		}
	}
	if len(items) > 0 {
		fmt.Fprintf(&b, ", TI hashes: %q", strings.Join(items, ", "))
	}
	return b.String()
}

// triggers are the embeddings as the prompt chunker matches them: each
// trigger word's BPE ids.
func (m *Model) triggers(embeds []*lora.Embedding) []prompt.Trigger {
	out := make([]prompt.Trigger, len(embeds))
	for i, e := range embeds {
		out[i] = prompt.Trigger{IDs: m.Tokenizer.Encode(e.Trigger), Vectors: e.Vectors.Shape[0]}
	}
	return out
}

// embeddingVectors maps the slots of chunk c that embeddings take to their
// vectors, checking each embedding's width against the text encoder's.
func (m *Model) embeddingVectors(c prompt.Chunk, embeds []*lora.Embedding, used map[*lora.Embedding]bool) (map[int][]float32, error) {
	if len(c.Embeds) == 0 {
		return nil, nil
	}
	out := map[int][]float32{}
	d := m.Text.Config.Width
	for _, p := range c.Embeds {
		e := embeds[p.Trigger]
		if e.Vectors2 != nil {
			return nil, fmt.Errorf("embedding %s (%q): an SDXL embedding (clip_l and clip_g), this model has one text encoder", e.Path, e.Trigger)
		}
		if e.Vectors.Shape[1] != d {
			return nil, fmt.Errorf("embedding %s (%q): vectors of width %d, this model's text encoder is %d wide: an embedding for another model family",
				e.Path, e.Trigger, e.Vectors.Shape[1], d)
		}
		for k := range e.Vectors.Shape[0] {
			out[p.Pos+k] = e.Vectors.Data[k*d : (k+1)*d]
		}
		if used != nil {
			used[e] = true
		}
	}
	return out, nil
}

// EmbeddingInfo describes one textual-inversion embedding of the
// embedding folder.
type EmbeddingInfo struct {
	Trigger string // the word that calls it
	Vectors int    // token slots it takes
	Width   int    // its vectors' width: the text encoder it is for (768 SD 1.x, 1024 SD 2.x; SDXL: clip_l's, 768)
	Width2  int    // an SDXL embedding's clip_g width (1280); 0 for others
	Path    string
}

// Embeddings lists the embeddings of the model's embedding folder
// (LoadOptions.EmbeddingDir), sorted by trigger word; files that are no
// embedding are left out.
func (m *Model) Embeddings() ([]EmbeddingInfo, error) {
	embs, err := m.loadEmbeddings(nil)
	if err != nil {
		return nil, err
	}
	var out []EmbeddingInfo
	for _, e := range embs {
		info := EmbeddingInfo{Trigger: e.Trigger, Vectors: e.Vectors.Shape[0], Width: e.Vectors.Shape[1], Path: e.Path}
		if e.Vectors2 != nil {
			info.Width2 = e.Vectors2.Shape[1]
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Trigger < out[j].Trigger })
	return out, nil
}
