package sdmini

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/atomicfile"
	"github.com/sdgo/sdgo/internal/gemm"
	"github.com/sdgo/sdgo/nn"
)

var update = flag.Bool("update", false, "record the fingerprint of a short training run in testdata/provenance.json")

// provenance records where the embedded model came from: the command, the
// commit and the GEMM kernel that trained it, the SHA-256 of each of its
// files, and the fingerprint of a short run of the same trainer. Training is
// deterministic for a seed and a GEMM kernel, on any number of threads, so
// while the short run's fingerprint is unchanged, the command reproduces the
// embedded files byte for byte.
type provenance struct {
	Command string `json:"command"`
	Commit  string `json:"commit"`
	Kernel  string `json:"kernel"`
	// SIMD is nn's elementwise kernel set (nn.SIMD) of the machine that
	// trained it: the short run's fingerprint holds for Kernel with it.
	SIMD     string            `json:"simd"`
	Files    map[string]string `json:"files"`
	ShortRun shortRun          `json:"short_run"`
	// OtherKernels holds the short run's fingerprint on other GEMM paths,
	// by "GEMM path/nn's SIMD" (gemm.Kernel, nn.SIMD: nn's elementwise
	// kernels round differently on AVX-512, AVX2 and plain Go, whatever the
	// GEMM path). No embedded file depends on them, but the "go" GEMM
	// path's pins the order of the sums outside the GEMM kernels, most of
	// which Kernel's path shares with it (not the avx2 path's vae stage in
	// parts, gemm.FastOrder): a check on a machine that cannot run Kernel's
	// path.
	OtherKernels map[string]string `json:"other_kernels,omitempty"`
}

// shortRun is a few steps of every stage; SHA256 is folderHash of the
// folder it writes.
type shortRun struct {
	Steps  int    `json:"steps"`
	Batch  int    `json:"batch"`
	Scenes int    `json:"scenes"`
	Seed   uint64 `json:"seed"`
	SHA256 string `json:"sha256"`
}

const provenanceFile = "testdata/provenance.json"

func readProvenance(t *testing.T) provenance {
	t.Helper()
	b, err := os.ReadFile(provenanceFile)
	if err != nil {
		t.Fatal(err)
	}
	var p provenance
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", provenanceFile, err)
	}
	return p
}

// fileHashes returns the SHA-256 of every file below root in fsys, by its
// slash-separated path relative to root, leaving out checkpoints/ and
// README.md.
func fileHashes(fsys fs.FS, root string) (map[string]string, error) {
	sums := map[string]string{}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel := strings.TrimPrefix(p, root+"/")
		if d.IsDir() {
			if rel == "checkpoints" {
				return fs.SkipDir
			}
			return nil
		}
		if path.Base(p) == "README.md" {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		sums[rel] = hex.EncodeToString(s[:])
		return nil
	})
	return sums, err
}

// folderHash is one SHA-256 over the names and hashes of sums.
func folderHash(sums map[string]string) string {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n + " " + sums[n] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The embedded model is the one the provenance record names, file for file.
func TestEmbeddedProvenance(t *testing.T) {
	p := readProvenance(t)
	got, err := fileHashes(embedded, "model")
	if err != nil {
		t.Fatal(err)
	}
	for name, sum := range p.Files {
		if got[name] != sum {
			t.Errorf("sdmini/model/%s: SHA-256 %q, %s records %q", name, got[name], provenanceFile, sum)
		}
	}
	for name := range got {
		if _, ok := p.Files[name]; !ok {
			t.Errorf("sdmini/model/%s is not in %s", name, provenanceFile)
		}
	}
}

// TestReproducible trains every stage for a few steps with the built-in
// recipe, on one thread and on three, and compares each folder with the
// fingerprint recorded when the embedded model was trained, on the GEMM path
// and nn kernels that trained it (elsewhere with the fingerprint recorded for
// the machine's path, if any: SDGO_GEMM_KERNEL=go go test ./sdmini -run
// TestReproducible, a few minutes, checks that most sums outside the GEMM
// kernels still add in the recorded order). Runs that differ from each other
// mean some op depends on how the work is split between threads; runs that
// agree with each other but not with the record mean the trainer's numbers
// have changed since — a kernel, an op, a default — so the command in
// docs/sd-mini.md no longer makes the embedded files: retrain them with it,
// then record the new fingerprint with
// `go test ./sdmini -run TestReproducible -update`.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	p := readProvenance(t)
	k := gemm.Kernel()
	other := k + "/" + nn.SIMD()
	want, pinned := p.OtherKernels[other]
	embeddedPath := k == p.Kernel && p.SIMD == nn.SIMD() // the embedded model's own
	switch {
	case embeddedPath:
		want = p.ShortRun.SHA256
	case !pinned && !*update:
		t.Skipf("the embedded model was trained with the %s GEMM kernel and nn's %s kernels, and %s records no fingerprint for %s, which this machine runs; "+
			"SDGO_GEMM_KERNEL=go checks the go path's where one is recorded for nn's %s kernels (it pins the order of most sums outside the GEMM kernels)",
			p.Kernel, p.SIMD, provenanceFile, other, nn.SIMD())
	}
	defer nn.SetThreads(nn.Threads())
	s := p.ShortRun
	var got []string
	for _, threads := range []int{1, 3} {
		nn.SetThreads(threads)
		o := BuiltIn() // the built-in weights' recipe, as `sdgo train all` runs it
		o.Dir, o.Steps, o.Batch, o.Scenes, o.Seed = t.TempDir(), s.Steps, s.Batch, s.Scenes, s.Seed
		if err := TrainAll(o); err != nil {
			t.Fatal(err)
		}
		sums, err := fileHashes(os.DirFS(o.Dir), ".")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, folderHash(sums))
	}
	if got[0] != got[1] {
		t.Fatalf("a short training run (%+v) hashes to %s on 1 thread and to %s on 3: the result depends on the thread count", s, got[0], got[1])
	}
	if *update {
		if embeddedPath {
			p.ShortRun.SHA256, p.SIMD = got[0], nn.SIMD()
		} else {
			if p.OtherKernels == nil {
				p.OtherKernels = map[string]string{}
			}
			p.OtherKernels[other] = got[0]
		}
		b, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.Write(filepath.FromSlash(provenanceFile), append(b, '\n'), true); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s", got[0])
		return
	}
	if got[0] != want {
		t.Errorf("a short training run (%+v) on %s (GEMM path/nn SIMD) hashes to %s, not %s as when the embedded model was trained at %s (on %s):\n"+
			"the trainer's numbers have changed, so %q no longer makes the files in sdmini/model.\n"+
			"Retrain them with that command (docs/sd-mini.md), then record: go test ./sdmini -run TestReproducible -update\n"+
			"(and SDGO_GEMM_KERNEL=go go test ./sdmini -run TestReproducible -update for the go path's fingerprint, %s)",
			s, other, got[0], want, p.Commit, p.Kernel, p.Command, other)
	}
}
