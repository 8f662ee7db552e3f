package server

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
)

// BuiltinModel is the title of sd-mini, the model built into sdgo.
const BuiltinModel = "sd-mini"

// loadedModel is a model with the jobs using it counted, so that a model
// switched away from is closed only when its last job ends.
type loadedModel struct {
	title      string
	model      *pipeline.Model
	defaultCFG float64 // the guidance scale used when a request names none
	refs       sync.WaitGroup
}

// models holds the loaded model and switches it among the files under dir.
type models struct {
	dir     string
	load    func(path string) (*pipeline.Model, error)
	metrics *metrics

	switching sync.Mutex // one switch at a time
	mu        sync.Mutex
	cur       *loadedModel
}

func defaultCFGFor(title string) float64 {
	if title == BuiltinModel {
		return sdmini.DefaultCFGScale
	}
	return 7 // AUTOMATIC1111's default
}

// acquire returns the current model; release must be called when done.
func (ms *models) acquire() (lm *loadedModel, release func()) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	lm = ms.cur
	lm.refs.Add(1)
	return lm, lm.refs.Done
}

// title returns the current model's title.
func (ms *models) title() string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.cur.title
}

// modelInfo is one entry of /sdapi/v1/sd-models.
type modelInfo struct {
	Title     string  `json:"title"`
	ModelName string  `json:"model_name"`
	Hash      *string `json:"hash"`
	SHA256    *string `json:"sha256"`
	Filename  string  `json:"filename"`
	Config    *string `json:"config"`
}

// list returns sd-mini and every checkpoint (.safetensors, .ckpt) and
// diffusers folder (with model_index.json) under dir, titled by their path
// relative to dir with forward slashes.
func (ms *models) list() []modelInfo {
	out := []modelInfo{{Title: BuiltinModel, ModelName: BuiltinModel, Filename: BuiltinModel}}
	if ms.dir == "" {
		return out
	}
	var found []modelInfo
	filepath.WalkDir(ms.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable entries are skipped
		}
		rel, _ := filepath.Rel(ms.dir, p)
		if d.IsDir() {
			if strings.Count(rel, string(filepath.Separator)) >= 3 {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "model_index.json")); err == nil && rel != "." {
				found = append(found, modelInfo{Title: filepath.ToSlash(rel), ModelName: d.Name(), Filename: p})
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".safetensors", ".ckpt":
			name := strings.TrimSuffix(d.Name(), filepath.Ext(d.Name()))
			found = append(found, modelInfo{Title: filepath.ToSlash(rel), ModelName: name, Filename: p})
		}
		return nil
	})
	sort.Slice(found, func(i, j int) bool { return found[i].Title < found[j].Title })
	return append(out, found...)
}

// resolve finds the model a title names among list's entries: nothing
// outside dir can be named.
func (ms *models) resolve(title string) (modelInfo, error) {
	const field = "sd_model_checkpoint"
	if title == "" {
		return modelInfo{}, badField(field, "is empty")
	}
	if filepath.IsAbs(title) || strings.HasPrefix(title, "/") || strings.HasPrefix(title, `\`) {
		return modelInfo{}, badField(field, "absolute paths are refused; name a model under --models-dir, got %q", title)
	}
	for _, part := range strings.FieldsFunc(title, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return modelInfo{}, badField(field, "%q leaves --models-dir", title)
		}
	}
	// A1111 clients may send "name.safetensors [hash]": drop the hash.
	if i := strings.Index(title, " ["); i > 0 && strings.HasSuffix(title, "]") {
		title = title[:i]
	}
	for _, mi := range ms.list() {
		if mi.Title == title || mi.ModelName == title {
			return mi, nil
		}
	}
	if ms.dir == "" {
		return modelInfo{}, badField(field, "unknown model %q (start the server with --models-dir to switch models)", title)
	}
	return modelInfo{}, badField(field, "no model %q under --models-dir (see GET /sdapi/v1/sd-models)", title)
}

// switchTo loads the model titled title and makes it current. The previous
// model is closed when its last job ends.
func (ms *models) switchTo(title string) error {
	mi, err := ms.resolve(title)
	if err != nil {
		return err
	}
	ms.switching.Lock()
	defer ms.switching.Unlock()
	if ms.title() == mi.Title {
		return nil
	}
	path := mi.Filename
	if mi.Title == BuiltinModel {
		if path, err = sdmini.Path(); err != nil {
			return err
		}
	}
	start := time.Now()
	m, err := ms.load(path)
	if err != nil {
		return fmt.Errorf("loading %s: %w", mi.Title, err)
	}
	ms.metrics.loadSeconds.Set(time.Since(start).Seconds())
	ms.mu.Lock()
	old := ms.cur
	ms.cur = &loadedModel{title: mi.Title, model: m, defaultCFG: defaultCFGFor(mi.Title)}
	ms.mu.Unlock()
	go func() {
		old.refs.Wait()
		old.model.Close()
	}()
	return nil
}

// close closes the current model once its jobs are done.
func (ms *models) close() {
	ms.mu.Lock()
	cur := ms.cur
	ms.mu.Unlock()
	cur.refs.Wait()
	cur.model.Close()
}
