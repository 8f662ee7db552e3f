package tokenizer

// CLIP's BPE works on bytes, not characters, but its vocabulary is text. The
// bridge is a fixed table that gives each of the 256 byte values a printable
// character: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
// themselves, and the other 68 bytes (controls, space, soft hyphen) take the
// characters U+0100, U+0101, ... in byte order. So "a photo" is the byte
// string 61 20 70 68 6f 74 6f, and the space 0x20 appears as 'Ġ' (U+0120).
// This is OpenAI's bytes_to_unicode (clip/simple_tokenizer.py), which
// transformers copies.

// byteRunes maps a byte to the character that represents it in the vocabulary.
var byteRunes [256]rune

// runeBytes is the inverse of byteRunes.
var runeBytes = map[rune]byte{}

// byteOrder lists the bytes in the order OpenAI's table enumerates them (the
// printable ones first): ids 0-255 of the vocabulary are these characters,
// ids 256-511 the same followed by "</w>".
var byteOrder [256]byte

func init() {
	printable := func(b int) bool {
		return '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF
	}
	i, n := 0, 0
	for b := 0; b < 256; b++ {
		if printable(b) {
			byteRunes[b] = rune(b)
			byteOrder[i] = byte(b)
			i++
		}
	}
	for b := 0; b < 256; b++ {
		if !printable(b) {
			byteRunes[b] = rune(256 + n)
			byteOrder[i] = byte(b)
			i++
			n++
		}
	}
	for b, r := range byteRunes {
		runeBytes[r] = byte(b)
	}
}
