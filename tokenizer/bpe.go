package tokenizer

import "sync"

// endOfWord marks the last piece of a word in the vocabulary ("cat</w>").
const endOfWord = "</w>"

// merge is one rule of the merge list: the pair it joins, its rank (lower
// ranks are applied first) and the symbol it produces.
type merge struct {
	rank   int32
	result int32
}

// pairKey packs two symbol indices into one map key.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpe splits one word (its UTF-8 bytes) into vocabulary symbols. It starts
// from one symbol per byte, the last one carrying "</w>", and repeatedly joins
// the adjacent pair with the lowest merge rank; every occurrence of that pair
// is joined left to right in one pass, exactly as transformers'
// CLIPTokenizer.bpe does, until no adjacent pair has a rank.
func (t *Tokenizer) bpe(word []byte) []int32 {
	if syms, ok := t.cache.get(word); ok {
		return syms
	}
	syms := make([]int32, len(word))
	for i := 0; i < len(word); i++ {
		syms[i] = t.byteSym[word[i]]
	}
	syms[len(syms)-1] = t.byteEndSym[word[len(word)-1]]
	for len(syms) > 1 {
		// Find the lowest-ranked adjacent pair.
		best := merge{rank: -1}
		var first, second int32
		for i := 0; i+1 < len(syms); i++ {
			m, ok := t.merges[pairKey(syms[i], syms[i+1])]
			if ok && (best.rank < 0 || m.rank < best.rank) {
				best, first, second = m, syms[i], syms[i+1]
			}
		}
		if best.rank < 0 {
			break
		}
		// Join every occurrence of it, left to right, in place.
		out := syms[:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == first && syms[i+1] == second {
				out = append(out, best.result)
				i++
				continue
			}
			out = append(out, syms[i])
		}
		syms = out
	}
	syms = syms[:len(syms):len(syms)]
	t.cache.put(string(word), syms)
	return syms
}

// maxCache bounds the word cache; when it is full it starts afresh, so memory
// stays bounded however much distinct text is encoded.
const maxCache = 1 << 16

// wordCache remembers the symbols of words already split. It is safe for
// concurrent use; the stored slices are never modified.
type wordCache struct {
	mu    sync.RWMutex
	words map[string][]int32
}

func (c *wordCache) get(word []byte) ([]int32, bool) {
	c.mu.RLock()
	syms, ok := c.words[string(word)] // no allocation: the compiler sees through this conversion
	c.mu.RUnlock()
	return syms, ok
}

func (c *wordCache) put(word string, syms []int32) {
	c.mu.Lock()
	if c.words == nil || len(c.words) >= maxCache {
		c.words = make(map[string][]int32)
	}
	c.words[word] = syms
	c.mu.Unlock()
}
