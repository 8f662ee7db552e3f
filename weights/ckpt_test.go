package weights

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each float tensor torch.save wrote reads back exactly as the float32 copy
// make_ckpt.py stored beside it: fp32, fp16 and bf16 storages, parameters,
// a transposed and a strided view, a view at a storage offset, a 0-dim scalar.
func TestCkptMatchesTorch(t *testing.T) {
	want, err := Open("testdata/ckpt_want.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	for _, tc := range []struct {
		file  string
		names []string
	}{
		{"lightning.ckpt", []string{
			"cond_stage_model.transformer.text_model.embeddings.position_ids",
			"first_stage_model.decoder.norm_out.weight",
			"model.diffusion_model.conv_in.bias",
			"model.diffusion_model.conv_in.weight",
			"scalar", "view.every_other", "view.rows", "view.transposed",
		}},
		{"fp16.ckpt", []string{"a.bias", "a.weight", "b.weight"}},
		{"bf16.ckpt", []string{"a.bias", "a.weight", "b.weight"}},
		{"proto4.ckpt", []string{"a.bias", "a.weight", "b.weight"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src, closer, err := OpenAny(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer closer()
			if got := strings.Join(src.Names(), " "); got != strings.Join(tc.names, " ") {
				t.Fatalf("names %s\nwant %s", got, strings.Join(tc.names, " "))
			}
			for _, name := range src.Names() {
				in, _ := src.Info(name)
				if !in.DType.Float() {
					continue
				}
				w, err := want.Tensor(tc.file + "/" + name)
				if err != nil {
					t.Fatal(err)
				}
				g, err := src.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				if !sameShape(g.Shape, w.Shape) || !sameShape(in.Shape, w.Shape) {
					t.Fatalf("%s: shape %v (info %v), want %v", name, g.Shape, in.Shape, w.Shape)
				}
				for i := range w.Data {
					if g.Data[i] != w.Data[i] {
						t.Fatalf("%s[%d] = %g, want %g", name, i, g.Data[i], w.Data[i])
					}
				}
			}
		})
	}
}

func TestCkptInfo(t *testing.T) {
	c, err := OpenCkpt("testdata/lightning.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, ok := c.Info("cond_stage_model.transformer.text_model.embeddings.position_ids")
	if !ok || in.DType != I64 || !sameShape(in.Shape, []int{1, 77}) {
		t.Fatalf("position_ids: %+v", in)
	}
	if _, err := c.Tensor(in.Name); err == nil || !strings.Contains(err.Error(), "want a float type") {
		t.Fatalf("reading an int64 tensor as float: %v", err)
	}
	if in, _ := c.Info("view.rows"); in.Begin != 6*4 || in.End != 18*4 || in.DType != F32 {
		t.Fatalf("view.rows: %+v", in)
	}
	if _, err := c.Tensor("nope"); err == nil {
		t.Fatal("missing tensor read without error")
	}
}

// Every error names the file and what is wrong.
func TestCkptErrors(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"testdata/evil.ckpt", `weights: testdata/evil.ckpt: pickle global "posix.system" is not allowed`},
		{"testdata/legacy.pt", "weights: testdata/legacy.pt: legacy (pre-1.6, non-zip) PyTorch format"},
		{"testdata/ckpt_want.safetensors", "weights: testdata/ckpt_want.safetensors: not a PyTorch zip checkpoint"},
		{"testdata/missing.ckpt", "no such file"},
	} {
		_, err := OpenCkpt(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenCkpt(%s) = %v, want an error containing %q", tc.file, err, tc.want)
		}
	}
}

// rezip rewrites a zip file's records with method (zip.Store or
// zip.Deflate), replacing or adding the records in extra.
func rezip(t *testing.T, path string, method uint16, extra map[string]string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	put := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	for _, f := range zr.File {
		if _, ok := extra[f.Name]; ok {
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		put(f.Name, b)
	}
	for name, s := range extra {
		put(name, []byte(s))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Records compressed with deflate (torch stores them, other tools may not)
// read the same; a big-endian byteorder is refused.
func TestCkptRezipped(t *testing.T) {
	stored, err := OpenCkpt("testdata/fp16.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	defer stored.Close()
	deflated, err := ParseCkpt("deflated.ckpt", rezip(t, "testdata/fp16.ckpt", zip.Deflate, map[string]string{"fp16/byteorder": "little"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range stored.Names() {
		w, _ := stored.Tensor(n)
		g, err := deflated.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w.Data {
			if g.Data[i] != w.Data[i] {
				t.Fatalf("%s[%d] = %g, want %g", n, i, g.Data[i], w.Data[i])
			}
		}
	}
	_, err = ParseCkpt("big.ckpt", rezip(t, "testdata/fp16.ckpt", zip.Store, map[string]string{"fp16/byteorder": "big"}))
	if err == nil || !strings.Contains(err.Error(), `weights: big.ckpt: byte order "big" is not supported`) {
		t.Fatalf("big-endian: %v", err)
	}
	_, err = ParseCkpt("nostorage.ckpt", rezip(t, "testdata/fp16.ckpt", zip.Store, map[string]string{"fp16/data/0": ""}))
	if err == nil || !strings.Contains(err.Error(), `weights: nostorage.ckpt: tensor "a.weight": storage data/0 holds 0 bytes, 15 F16 elements declared`) {
		t.Fatalf("empty storage: %v", err)
	}
}

// Damaged copies of a real checkpoint: every truncation and a sweep of
// single-byte corruptions give an error or a valid file, never a panic.
func TestCkptDamaged(t *testing.T) {
	good, err := os.ReadFile("testdata/lightning.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good); n += 7 {
		if _, err := ParseCkpt("cut.ckpt", good[:n]); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	for i := 0; i < len(good); i++ {
		b := append([]byte(nil), good...)
		b[i] ^= 0xA5
		readAll(ParseCkpt("bad.ckpt", b))
	}
}

// readAll reads every tensor of a parsed checkpoint, ignoring errors: the
// point is to exercise bounds checks.
func readAll(c *Ckpt, err error) {
	if err != nil {
		return
	}
	for _, n := range c.Names() {
		c.Tensor(n)
	}
}

// FuzzCkpt: the zip and pickle reader never panics and bounds its work.
// The seeds are whole checkpoints of a few KB, which the fuzzer spends its
// first seconds minimizing; run it with -fuzzminimizetime 3s.
func FuzzCkpt(f *testing.F) {
	for _, name := range []string{"lightning.ckpt", "fp16.ckpt", "bf16.ckpt", "evil.ckpt", "legacy.pt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		readAll(ParseCkpt("fuzz.ckpt", b))
	})
}

// FuzzPickle runs the pickle interpreter alone, where mutations reach
// deeper than through the zip container.
func FuzzPickle(f *testing.F) {
	for _, name := range []string{"lightning.ckpt", "fp16.ckpt", "evil.ckpt"} {
		c, err := zipRecord(filepath.Join("testdata", name), "data.pkl")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		unpickle(p)
	})
}

// zipRecord returns the record of a zip file whose name ends in suffix.
func zipRecord(path, suffix string) ([]byte, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, suffix) {
			r, err := f.Open()
			if err != nil {
				return nil, err
			}
			defer r.Close()
			return io.ReadAll(r)
		}
	}
	return nil, os.ErrNotExist
}
