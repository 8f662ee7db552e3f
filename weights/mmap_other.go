//go:build !unix

package weights

import "os"

// mapFile reads path whole where memory mapping is not available.
func mapFile(path string) ([]byte, func() error, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return buf, func() error { return nil }, nil
}
