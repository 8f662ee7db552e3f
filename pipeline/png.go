package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"os"

	"github.com/sdgo/sdgo/internal/atomicfile"
)

// ParametersKey is the PNG text keyword under which AUTOMATIC1111's web UI
// (and tools that read its images: ComfyUI, InvokeAI, civitai) keep the
// generation settings.
const ParametersKey = "parameters"

// EncodePNG encodes img as PNG with a text chunk key=text (tEXt when text is
// Latin-1, iTXt UTF-8 otherwise), placed right after the header.
func EncodePNG(img image.Image, key, text string) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	if key == "" {
		return buf.Bytes(), nil
	}
	b := buf.Bytes()
	const ihdrEnd = 8 + 8 + 13 + 4 // signature, IHDR length+type, IHDR data, CRC
	var chunk bytes.Buffer
	data := textChunk(key, text)
	binary.Write(&chunk, binary.BigEndian, uint32(len(data)-4))
	chunk.Write(data)
	binary.Write(&chunk, binary.BigEndian, crc32.ChecksumIEEE(data))
	out := make([]byte, 0, len(b)+chunk.Len())
	out = append(out, b[:ihdrEnd]...)
	out = append(out, chunk.Bytes()...)
	return append(out, b[ihdrEnd:]...), nil
}

// textChunk returns the chunk type followed by its data.
func textChunk(key, text string) []byte {
	latin1 := make([]byte, 0, len(text))
	for _, r := range text {
		if r > 0xff {
			latin1 = nil
			break
		}
		latin1 = append(latin1, byte(r))
	}
	if latin1 != nil || text == "" {
		return append(append([]byte("tEXt"+key), 0), latin1...)
	}
	// iTXt: keyword, 0, compression flag 0, method 0, empty language tag 0, empty translated keyword 0, UTF-8 text.
	return append(append([]byte("iTXt"+key), 0, 0, 0, 0, 0), text...)
}

// WritePNG writes img with the generation parameters to path atomically,
// refusing to replace an existing file unless overwrite is set.
func WritePNG(path string, img image.Image, parameters string, overwrite bool) error {
	data, err := EncodePNG(img, ParametersKey, parameters)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.Write(path, data, overwrite)
}

// ReadParameters returns the "parameters" text of a PNG file (tEXt or
// uncompressed iTXt), or "" when it has none.
func ReadParameters(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	text, err := PNGParameters(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return text, nil
}

// PNGParameters returns the "parameters" text of PNG data (tEXt or
// uncompressed iTXt), or "" when it has none.
func PNGParameters(b []byte) (string, error) {
	if len(b) < 8 || string(b[1:4]) != "PNG" {
		return "", errors.New("not a PNG file")
	}
	for p := 8; p+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		typ := string(b[p+4 : p+8])
		if n < 0 || p+12+n > len(b) {
			return "", fmt.Errorf("truncated PNG chunk %q", typ)
		}
		data := b[p+8 : p+8+n]
		if typ == "tEXt" || typ == "iTXt" {
			if k, rest, ok := bytes.Cut(data, []byte{0}); ok && string(k) == ParametersKey {
				if typ == "tEXt" {
					r := make([]rune, len(rest))
					for i, c := range rest {
						r[i] = rune(c)
					}
					return string(r), nil
				}
				if len(rest) < 2 || rest[0] != 0 {
					return "", errors.New("compressed iTXt parameters are not supported")
				}
				parts := bytes.SplitN(rest[2:], []byte{0}, 3)
				if len(parts) == 3 {
					return string(parts[2]), nil
				}
			}
		}
		p += 12 + n
	}
	return "", nil
}
