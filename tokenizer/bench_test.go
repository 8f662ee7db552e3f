package tokenizer

import "testing"

// BenchmarkEncode encodes the 283 reference prompts; the word cache is warm
// after the first pass, as it is in a session that renders many images.
func BenchmarkEncode(b *testing.B) {
	benchEncode(b, false)
}

// BenchmarkEncodeNoCache encodes the reference prompts with an empty word
// cache each pass: the cost of normalising and of BPE itself.
func BenchmarkEncodeNoCache(b *testing.B) {
	benchEncode(b, true)
}

func benchEncode(b *testing.B, cold bool) {
	tok := loadRef(b)["hf"]
	rows := loadRows(b)
	tokens, bytes := 0, 0
	for _, r := range rows {
		tokens += len(r.Raw)
		bytes += len(r.Prompt)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if cold {
			tok.cache.mu.Lock()
			tok.cache.words = nil
			tok.cache.mu.Unlock()
		}
		for _, r := range rows {
			tok.Encode(r.Prompt)
		}
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
