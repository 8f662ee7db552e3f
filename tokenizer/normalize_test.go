package tokenizer

import "testing"

// TestNormalize covers ftfy's fixes one by one; it needs no reference data.
func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  A   Photo\tof a\r\nCAT  ", "a photo of a cat"},
		{"Tom &amp; Jerry &EACUTE; &#39;x&#x27; &bogus; &amp", "tom & jerry é 'x' &bogus; &amp"},
		{"&amp;amp;", "&"},
		{"&#0;|&#x80;|&#xFFFE;|&#12ab;|&#x1F431;|&#99999999999;|&SZLIG;|&Eacute;", "\ufffd|€||&#12ab;|🐱|\ufffd|ss|é"}, // repeated until nothing changes
		{"<b>&amp;</b>", "<b>&amp;</b>"},                            // HTML: entities left alone
		{"&lt;a\n&amp; <b>\n&amp;", "<a &amp; <b> &amp;"},           // '<' stops unescaping from its line on
		{"\u2018a\u2019 \u201cb\u201d \u02bcc", "'a' \"b\" 'c"},     // curly quotes
		{"\ufb01sh \ufb02y \u0132 \u01c4", "fish fly ij dž"},        // ligatures, digraphs
		{"\uff21\uff22\uff23\u3000\uff11\uff12 \uff71", "abc 12 ア"}, // full- and half-width
		{"a\x00b\x0bc\x7fd\ufeffe\u206af", "abcdef"},                // control characters
		{"\x1b[1;31mred\x1b[0m", "red"},                             // terminal escapes
		{"\u0085 \u0093q\u0094 \u0080", "… \"q\" €"},                // C1 controls as Windows-1252
		{"a\u2028b\u2029c", "a b c"},
		{"e\u0301", "é"}, // NFC
		{"\u0130stanbul \u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u0399\u0391\u03a3", "i\u0307stanbul οδος σοφιας"},
		{"\u03a3\u0391 \u0391\u03a3'", "σα ας'"},
		// Mojibake: UTF-8 read as Latin-1 or Windows-1252.
		{"cafÃ© crÃ¨me", "café crème"},
		{"Ã¼ber â€œquotedâ€\u009d itâ€™s", "über \"quoted\" it's"},
		{"ÐŸÑ€Ð¸Ð²ÐµÑ‚", "привет"},
		{"ðŸ˜€ and ðŸ±", "😀 and ðÿ±"}, // the second is cut short: not valid UTF-8
		{"cafÃ© 🐱 東京", "café 🐱 東京"},   // mixed with text that is no mojibake
		{"Ã\u0083Â©", "é"},            // mojibake twice
		// Real text that must stay as it is.
		{"“CAFÉ” «NIÑO» AÑO… PARÍS— Straße” café…” ×½ ¿Qué?", "\"café\" «niño» año… parís— straße\" café…\" ×½ ¿qué?"},
		{"naïve façade Ångström São Dvořák Łódź", "naïve façade ångström são dvořák łódź"},
		{"\xff\xfe\xc3", "\ufffd\ufffd\ufffd"}, // invalid UTF-8
		{"", ""},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%+q)\n got  %+q\n want %+q", tt.in, got, tt.want)
		}
	}
}
