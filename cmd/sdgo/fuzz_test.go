package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/sdmini"
)

// cliFlag is one flag of a command, read from its --help.
type cliFlag struct{ name, kind string } // kind: string, int, int64, float, bool, or a choice list

var reHelpFlag = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([\w-]+)(\[=true\|false\]| (\S+))?`)

// realFlags lists the flags a command prints in its --help.
func realFlags(t testing.TB, cmd ...string) []cliFlag {
	code, out, _ := sdgo(append(cmd, "--help")...)
	if code != 0 {
		t.Fatalf("%v --help: exit %d", cmd, code)
	}
	var fs []cliFlag
	for _, m := range reHelpFlag.FindAllStringSubmatch(out, -1) {
		kind := m[3]
		if m[2] != "" && m[3] == "" {
			kind = "bool"
		}
		fs = append(fs, cliFlag{m[1], kind})
	}
	if len(fs) < 3 {
		t.Fatalf("%v --help lists %d flags", cmd, len(fs))
	}
	return fs
}

// pathFlags take file or folder names: the fuzz maps their values to the
// files of fuzzPaths, so that it reads only those and writes only in its
// temporary folder.
var pathFlags = map[string]bool{
	"model": true, "vae": true, "tokenizer": true, "config": true, "init-img": true,
	"output": true, "preview": true, "taesd": true, "dump-stages": true,
}

// fuzzEnv is what FuzzCLI's calls read and write.
type fuzzEnv struct {
	out    string            // folder the outputs go to, emptied after each call
	paths  map[string]string // "@name" → path
	keys   []string
	inputs map[string]string // input path → its size and time, which no call may change
}

// changedInputs returns the input files a call has changed.
func (e *fuzzEnv) changedInputs() []string {
	var changed []string
	for p, was := range e.inputs {
		if stamp(p) != was {
			changed = append(changed, p)
		}
	}
	return changed
}

func stamp(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprint(st.Size(), st.ModTime().UnixNano())
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	dir := f.TempDir()
	td := testdata.Dir(f, "pipeline")
	f.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	mini, err := sdmini.Path()
	if err != nil {
		f.Fatal(err)
	}
	e := &fuzzEnv{out: filepath.Join(dir, "out"), paths: map[string]string{}}
	os.MkdirAll(e.out, 0o755)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			f.Fatal(err)
		}
		return p
	}
	// The calls see copies of the reference files, never the shared
	// originals, so that no bug can change those.
	copyFile := func(src, name string) string {
		data, err := os.ReadFile(src)
		if err != nil {
			f.Fatal(err)
		}
		return write(name, data)
	}
	ckpt, err := os.ReadFile(filepath.Join(td, "sd_tiny.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	tiny := write("sd_tiny.safetensors", ckpt)
	tinyFP16 := copyFile(filepath.Join(td, "sd_tiny.fp16.safetensors"), "sd_tiny.fp16.safetensors")
	cfg := filepath.Join(dir, "tinycfg")
	for _, sub := range []string{"text_encoder/config.json", "unet/config.json", "vae/config.json", "scheduler/scheduler_config.json", "model_index.json",
		"tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json", "tokenizer/special_tokens_map.json"} {
		os.MkdirAll(filepath.Dir(filepath.Join(cfg, sub)), 0o755)
		copyFile(filepath.Join(td, "diffusers", sub), filepath.Join("tinycfg", sub))
	}
	var pic bytes.Buffer
	png.Encode(&pic, image.NewNRGBA(image.Rect(0, 0, 32, 32)))
	for k, v := range map[string]string{
		"@tiny":      tiny,
		"@tinyfp16":  tinyFP16,
		"@tinycfg":   cfg,
		"@tinytok":   filepath.Join(cfg, "tokenizer"),
		"@mini":      mini,
		"@missing":   filepath.Join(dir, "does-not-exist.safetensors"),
		"@dir":       dir,
		"@zero":      "/dev/zero",
		"@truncated": write("truncated.safetensors", ckpt[:len(ckpt)/3]),
		"@fakepng":   write("fake.png", []byte("not a PNG, whatever its name says")),
		"@png":       write("pic.png", pic.Bytes()),
		"@out":       filepath.Join(e.out, "img.png"),
		"@outjpg":    filepath.Join(e.out, "img.jpg"),
		"@outnodir":  filepath.Join(e.out, "no", "such", "dir", "img.png"),
		"@outdir":    e.out,
		"@preview":   filepath.Join(e.out, "preview.png"),
		"@stages":    filepath.Join(e.out, "stages"),
	} {
		e.paths[k] = v
		e.keys = append(e.keys, k)
	}
	slicesSort(e.keys)
	e.inputs = map[string]string{}
	for _, p := range e.paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && !strings.HasPrefix(p, e.out) {
			e.inputs[p] = stamp(p)
		}
	}
	e.inputs[tinyFP16] = stamp(tinyFP16)
	for _, sub := range []string{"unet/config.json", "tokenizer/vocab.json"} {
		e.inputs[filepath.Join(cfg, sub)] = stamp(filepath.Join(cfg, sub))
	}
	return e
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// writtenFlags name files the command writes: their values map only to
// paths in the output folder.
var writtenFlags = map[string]bool{"output": true, "preview": true, "dump-stages": true}

// path maps a fuzzed value of flag to one of the environment's paths: the
// output folder's for the flags that write, any other for those that read.
func (e *fuzzEnv) path(flag, v string) string {
	inOut := func(p string) bool { return strings.HasPrefix(p, e.out) }
	if p, ok := e.paths[v]; ok && (!writtenFlags[flag] || inOut(p)) {
		return p
	}
	var keys []string
	for _, k := range e.keys {
		if !writtenFlags[flag] || inOut(e.paths[k]) {
			keys = append(keys, k)
		}
	}
	h := fnv.New32a()
	h.Write([]byte(v))
	return e.paths[keys[int(h.Sum32())%len(keys)]]
}

// bound rewrites args so that every call is quick and stays in the
// temporary folder: path flags name the environment's files, steps ≤ 2,
// batch ≤ 2, threads ≤ 2, images of at most 128² pixels unless so large
// that the memory check must refuse them at once (under the --max-memory
// of at most 1 GB that every call gets), prompts of at most 300 bytes.
func (e *fuzzEnv) bound(args []string) []string {
	var out []string
	sub := ""
	if len(args) > 0 && (args[0] == "tokenize" || args[0] == "generate") {
		sub, args = args[0], args[1:]
	}
	if sub != "" {
		out = append(out, sub)
	}
	if sub != "tokenize" {
		out = append(out, "-q", "-o", e.paths["@out"], "--max-memory", "1GB", "--steps", "1")
	}
	size := map[string]int{"width": 64, "height": 64}
	var sizeAt []int
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if len(a) > 300 {
			a = a[:300]
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			out = append(out, a)
			continue
		}
		if !strings.HasPrefix(a, "--") && len(a) > 2 {
			// Combined or attached short flags (-qo x, -ofile) could name
			// files outside the temporary folder: drop them.
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if long, ok := shortFlags[name]; ok && !strings.HasPrefix(a, "--") {
			name = long
		}
		if !hasVal && i+1 < len(args) && !isBoolFlag(name) {
			i++
			val, hasVal = args[i], true
		}
		if !hasVal {
			out = append(out, a)
			continue
		}
		switch {
		case pathFlags[name]:
			val = e.path(name, val)
		case name == "steps" || name == "batch-count" || name == "threads":
			limit := map[string]int{"steps": 2, "batch-count": 2, "threads": 2}[name]
			if n, err := strconv.ParseInt(strings.TrimSpace(val), 0, 64); err == nil && n > int64(limit) {
				val = strconv.Itoa(limit)
			}
		case name == "max-memory":
			if n, err := parseBytes(val); err == nil && n > 1<<30 {
				val = "1GB"
			}
		case name == "width" || name == "height":
			if n, err := strconv.ParseInt(strings.TrimSpace(val), 0, 64); err == nil {
				size[name] = int(min(max(n, 0), 1<<40))
				sizeAt = append(sizeAt, len(out)+1)
			}
		}
		flag := "--" + name
		out = append(out, flag, val)
	}
	// Sizes of real work (above 128² pixels but small enough to fit 1 GB)
	// become 64×64.
	w, h := max(size["width"], 64), max(size["height"], 64)
	if p := int64(w) * int64(h); p > 128*128 && p < 1<<30 {
		for _, i := range sizeAt {
			out[i] = "64"
		}
	}
	return out
}

var shortFlags = map[string]string{
	"m": "model", "i": "init-img", "o": "output", "W": "width", "H": "height", "t": "threads",
	"s": "seed", "p": "prompt", "n": "negative-prompt", "q": "quiet", "h": "help",
}

func isBoolFlag(name string) bool {
	switch name {
	case "karras", "overwrite", "fp16", "quiet", "vae-tiling", "pieces", "help", "h":
		return true
	}
	return false
}

// FuzzCLI runs the command on argument lists built from its real flags with
// random values: numbers, NaN, huge and negative ones, missing paths, a
// folder, /dev/zero, a truncated checkpoint, a PNG that is not one, against
// the tiny reference model and sd-mini. Every call ends in bounded time
// with exit code 0, 1 or 2, one line on stderr when it fails (warnings
// aside), and no file left behind on failure.
func FuzzCLI(f *testing.F) {
	e := newFuzzEnv(f)
	values := map[string][]string{
		"int":    {"0", "1", "-1", "2", "8", "32", "64", "100", "99999999999999999999", "-2147483649", "NaN", "1e3", "0x10", ""},
		"int64":  {"0", "-1", "-2", "42", "18446744073709551615", "NaN"},
		"float":  {"0", "1", "7.5", "-1", "NaN", "nan", "Inf", "-Inf", "1e39", "1e-320", "0.5", "1", "2", "101", "0x1p-2", ""},
		"string": {"", "x", "a red circle", "a (red:1.5) circle", "(x:1e39)", "(x:99999)", "a photograph of an astronaut riding a horse", "[[[[x]]]]", "BREAK", "\x00", "euler", "lcm", "v", "epsilon", "cuda", "sd2", "1GB", "10MB"},
	}
	pathValues := []string{"@tiny", "@tinyfp16", "@tinycfg", "@tinytok", "@mini", "@missing", "@dir", "@zero", "@truncated", "@fakepng", "@png", "@out", "@outjpg", "@outnodir", "@outdir", "@preview", "@stages"}
	// Seeds: each real flag with each kind of value, after a working base.
	bases := [][]string{
		{"-p", "a red circle"},
		{"-m", "@tiny", "--config", "@tinycfg", "-p", "x", "-W", "32", "-H", "32"},
		{"-m", "@mini", "-p", "a blue square"},
	}
	// Three values a flag, taken in turn from its kind's list, so that the
	// seeds (which go test runs) stay quick; fuzzing tries the others.
	for j, fl := range realFlags(f) {
		vals := values[fl.kind]
		if pathFlags[fl.name] {
			vals = pathValues
		}
		if fl.kind == "bool" {
			vals = []string{"true", "false", "maybe"}
		}
		if vals == nil {
			vals = values["string"]
		}
		for k := range 3 {
			v := vals[(3*j+k)%len(vals)]
			args := append(append([]string{}, bases[(j+k)%len(bases)]...), "--"+fl.name+"="+v)
			f.Add(strings.Join(args, "\x00"))
		}
	}
	for _, fl := range realFlags(f, "tokenize") {
		f.Add(strings.Join([]string{"tokenize", "--" + fl.name, "@tinytok", "a cat"}, "\x00"))
	}
	for _, s := range [][]string{
		{"-p", "x", "-W", "100000", "-H", "100000"},
		{"-p", "x", "--cfg-scale", "NaN"},
		{"-p", "x", "-i", "@fakepng"},
		{"-p", "x", "-i", "@png", "--strength", "0.5"},
		{"-m", "@truncated", "-p", "x"},
		{"-m", "@zero", "-p", "x"},
		{"-m", "@dir", "-p", "x"},
		{"-m", "@tiny", "-p", "x"},
		{"-p", "x", "--vae", "@truncated"},
		{"-p", "x", "--taesd", "@fakepng"},
		{"-p", "x", "-o", "@outjpg"},
		{"-p", "x", "-o", "@outnodir"},
		{"-p", "x", "--batch-count", "2", "--preview", "@preview", "--dump-stages", "@stages"},
		{"-p", "x", "--preview", "@out"},
		{"-p", "x", "--dump-stages", "@out"},
		{"-p", "x", "--preview", "@stages", "--dump-stages", "@stages"},
		{"--bogus"},
		{"tokenize"},
	} {
		f.Add(strings.Join(s, "\x00"))
	}

	f.Fuzz(func(t *testing.T, in string) {
		args := e.bound(strings.Split(in, "\x00"))
		start := time.Now()
		code, _, stderr := sdgo(args...)
		d := time.Since(start)
		if d > 60*time.Second {
			t.Errorf("%q: took %v", args, d)
		}
		if code != 0 && code != 1 && code != 2 {
			t.Fatalf("%q: exit %d", args, code)
		}
		if changed := e.changedInputs(); len(changed) > 0 {
			t.Fatalf("%q changed input files %q", args, changed)
		}
		entries, _ := os.ReadDir(e.out)
		if code != 0 {
			var lines []string // errors: progress (with --quiet=false) and warnings aside
			for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if strings.HasPrefix(l, "sdgo: ") && !strings.HasPrefix(l, "sdgo: warning:") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.HasSuffix(strings.TrimSpace(stderr), lines[0]) {
				t.Errorf("%q: exit %d, stderr %q: want one line", args, code, stderr)
			}
			if len(entries) > 0 {
				t.Errorf("%q: exit %d left %v behind", args, code, fmt.Sprint(len(entries))+" files, first "+entries[0].Name())
			}
		}
		for _, en := range entries {
			os.RemoveAll(filepath.Join(e.out, en.Name()))
		}
	})
}
