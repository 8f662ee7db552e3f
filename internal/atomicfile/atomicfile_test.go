package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.png")
	if err := Write(p, []byte("one"), false); err != nil {
		t.Fatal(err)
	}
	// No overwrite: an error, and the file keeps its content.
	err := Write(p, []byte("two"), false)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second write: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("content %q after refused write", b)
	}
	if err := Write(p, []byte("three"), true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "three" {
		t.Fatalf("content %q after overwrite", b)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files in dir, want 1", len(ents))
	}
	// A failing writer leaves nothing.
	q := filepath.Join(dir, "bad")
	if err := WriteFunc(q, false, func(*os.File) error { return errors.New("boom") }); err == nil {
		t.Fatal("no error from failing fill")
	}
	if _, err := os.Stat(q); err == nil {
		t.Fatal("failed write left a file")
	}
	// A missing directory is a clear error naming the path.
	if err := Write(filepath.Join(dir, "no", "x"), nil, false); err == nil {
		t.Fatal("no error for missing directory")
	}
}
