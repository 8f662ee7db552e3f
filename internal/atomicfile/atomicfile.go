// Package atomicfile writes files so that a reader never sees half of one and
// an existing file is never replaced by accident: data goes to a temporary
// file in the same directory, is synced, then renamed into place.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned (wrapped) when the target exists and overwrite is false.
var ErrExists = fs.ErrExist

// Write writes data to path atomically. Without overwrite it refuses to
// replace an existing file, and the check and the rename are one step (a
// hard link), so a file created meanwhile is not lost either.
func Write(path string, data []byte, overwrite bool) error {
	return WriteFunc(path, overwrite, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteFunc is Write for content produced by fill, which writes into the
// temporary file.
func WriteFunc(path string, overwrite bool, fill func(*os.File) error) (err error) {
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s: %w (choose another name, or allow overwriting)", path, ErrExists)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err = fill(tmp); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Chmod(name, 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if overwrite {
		if err = os.Rename(name, path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	// Link fails if path appeared since the check: nothing is clobbered.
	if err = os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%s: %w (choose another name, or allow overwriting)", path, ErrExists)
			return err
		}
		// Filesystems without hard links: fall back to a rename after a final check.
		if _, statErr := os.Lstat(path); statErr == nil {
			err = fmt.Errorf("%s: %w", path, ErrExists)
			return err
		}
		if err = os.Rename(name, path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	os.Remove(name)
	return nil
}
