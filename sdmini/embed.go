package sdmini

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/sdgo/sdgo/internal/atomicfile"
)

// The trained sd-mini model, a diffusers-style folder, built into the sdgo
// binary so that it makes images with nothing downloaded. The command that
// made it is in docs/sd-mini.md.
//
//go:embed all:model
var embedded embed.FS

// Path returns a folder holding the embedded sd-mini model, ready for
// pipeline.Load. The files are written once into the user's cache folder
// (os.UserCacheDir()/sdgo, else the temporary folder), under a name that
// carries a hash of their content, so a newer binary never reads an older
// model; later calls find them there.
func Path() (string, error) {
	files, sum, err := embeddedFiles()
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "sdgo", "sd-mini-"+sum[:16])
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return dir, nil
	}
	for _, name := range files {
		data, err := embedded.ReadFile(name)
		if err != nil {
			return "", err
		}
		dst := filepath.Join(dir, filepath.FromSlash(name[len("model/"):]))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("sd-mini: %w", err)
		}
		if err := atomicfile.Write(dst, data, true); err != nil {
			return "", fmt.Errorf("sd-mini: %w", err)
		}
	}
	if err := atomicfile.Write(done, []byte(sum+"\n"), true); err != nil {
		return "", fmt.Errorf("sd-mini: %w", err)
	}
	return dir, nil
}

// embeddedFiles lists the embedded model's files in order, with the SHA-256
// of their names and contents.
func embeddedFiles() ([]string, string, error) {
	var files []string
	err := fs.WalkDir(embedded, "model", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Base(p) != "README.md" {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	if len(files) == 0 {
		return nil, "", errors.New("sd-mini: no model built into this binary")
	}
	sort.Strings(files)
	h := sha256.New()
	for _, name := range files {
		data, err := embedded.ReadFile(name)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	return files, hex.EncodeToString(h.Sum(nil)), nil
}
