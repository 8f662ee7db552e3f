//go:build linux

package weights

import "syscall"

// releasePages drops the pages of a read-only file mapping from the
// process's resident memory; reading them again faults them back in.
func releasePages(mapping []byte) error {
	return syscall.Madvise(mapping, syscall.MADV_DONTNEED)
}
