package tokenizer

import (
	"regexp"
	"strings"
)

// ftfy decides whether text is mojibake with a "badness" test: a regular
// expression over classes of the ~400 characters that UTF-8 mojibake is
// made of, matching unlikely neighbours such as an accented capital after a
// lower-case accented letter, or "Ã" before a symbol. These are its classes
// and rules (ftfy 6.1, badness.py), written as regexp character classes.
const (
	// C1 controls, which only mojibake produces now
	c1 = `\x{80}-\x{9F}`
	// symbols nearly only seen in mojibake: ¦¤¨¬¯¶§¸ƒˆˇ˘˛˜†‡‰⌐◊�ªº№
	bad = `\x{A4}\x{A6}-\x{A8}\x{AA}\x{AC}\x{AF}\x{B6}\x{B8}\x{BA}\x{192}\x{2C6}\x{2C7}\x{2D8}\x{2DB}\x{2DC}\x{2020}\x{2021}\x{2030}\x{2116}\x{2310}\x{25CA}\x{FFFD}`
	// ¢£¥₧€
	currency = `\x{A2}\x{A3}\x{A5}\x{20A7}\x{20AC}`
	// punctuation that opens: ¡«¿©΄΅‘‚“„•‹
	startPunct = `\x{A1}\x{A9}\x{AB}\x{BF}\x{384}\x{385}\x{2018}\x{201A}\x{201C}\x{201E}\x{2022}\x{2039}\x{F8FF}`
	// punctuation that closes: ®»˝”›™
	endPunct = `\x{AE}\x{BB}\x{2DD}\x{201D}\x{203A}\x{2122}`
	// ²³¹±¼½¾×µ÷⁄∂∆∏∑√∞∩∫≈≠≡≤≥
	numeric = `\x{B1}-\x{B3}\x{B5}\x{B9}\x{BC}-\x{BE}\x{D7}\x{F7}\x{2044}\x{2202}\x{2206}\x{220F}\x{2211}\x{221A}\x{221E}\x{2229}\x{222B}\x{2248}\x{2260}\x{2261}\x{2264}\x{2265}`
	// letters used in kaomoji faces: ÒÓÔÕÖÙÚÛÜòóôõöøùúûüŐ°
	kaomoji = `\x{B0}\x{D2}-\x{D6}\x{D9}-\x{DC}\x{F2}-\x{F6}\x{F8}-\x{FC}\x{150}`
	// ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑØÜÝĂĄĆČĎĐĘĚĞİĹĽŁŃŇŒŘŚŞ
	upperAccented = `\x{C0}-\x{D1}\x{D8}\x{DC}\x{DD}\x{102}\x{104}\x{106}\x{10C}\x{10E}\x{110}\x{118}\x{11A}\x{11E}\x{130}\x{139}\x{13D}\x{141}\x{143}\x{147}\x{152}\x{158}\x{15A}\x{15E}\x{160}\x{162}\x{164}\x{16E}\x{170}\x{178}\x{179}\x{17B}\x{17D}\x{490}`
	// ßàáâãäåæçèéêëìíîïðñăąćčďđęěğĺľłœŕśşšťźżž
	lowerAccented = `\x{DF}-\x{F1}\x{103}\x{105}\x{107}\x{10D}\x{10F}\x{111}\x{119}\x{11B}\x{11F}\x{13A}\x{13E}\x{142}\x{153}\x{155}\x{15B}\x{15F}\x{161}\x{165}\x{17A}\x{17C}\x{17E}\x{491}\x{FB01}\x{FB02}`
	// Greek and Cyrillic lower case
	lowerCommon = `\x{3AC}-\x{3C6}\x{430}-\x{45F}`
	// box drawing: ─│┌┐┘├┤┬┼═║╒╓╔╕╖╗╘╙╚╛╜╝╞╟╠╡╢╣╤╥╦╧╨╩╪╫╬▀▄
	box = `\x{2500}\x{2502}\x{250C}\x{2510}\x{2518}\x{251C}\x{2524}\x{252C}\x{253C}\x{2550}-\x{256C}\x{2580}\x{2584}\x{2588}\x{258C}\x{2590}-\x{2593}`
)

// badness matches a sequence that is unlikely outside mojibake.
var badness = func() *regexp.Regexp {
	classes := strings.NewReplacer(
		"{c1}", c1, "{bad}", bad, "{currency}", currency, "{startPunct}", startPunct,
		"{endPunct}", endPunct, "{numeric}", numeric, "{kaomoji}", kaomoji,
		"{upperAccented}", upperAccented, "{lowerAccented}", lowerAccented,
		"{lowerCommon}", lowerCommon, "{box}", box,
		// Python's \s (str.isspace), which RE2's \s (ASCII only) is not.
		"{space}", `[\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]`,
	)
	rules := []string{
		`[{c1}]`,
		`[{bad}{lowerAccented}{upperAccented}{box}{startPunct}{endPunct}{currency}{numeric}][{bad}]`,
		`[{bad}][{lowerAccented}{upperAccented}{box}{startPunct}{endPunct}{currency}{numeric}]`,
		`[{lowerAccented}{lowerCommon}{box}{endPunct}{currency}{numeric}][{upperAccented}]`,
		`[{box}{endPunct}{currency}{numeric}][{lowerAccented}]`,
		`[{lowerAccented}{box}{endPunct}][{currency}]`,
		`{space}[{upperAccented}][{currency}]`,
		`[{upperAccented}{box}{endPunct}][{numeric}]`,
		`[{lowerAccented}{upperAccented}{currency}{numeric}{box}][{endPunct}][{startPunct}]`,
		`[{currency}{numeric}{box}][{startPunct}]`,
		`[a-z][{upperAccented}][{startPunct}{currency}]`,
		`[{box}][{kaomoji}]`,
		`[{lowerAccented}{upperAccented}{currency}{numeric}{startPunct}{endPunct}][{box}]`,
		`[{box}][{endPunct}]`,
		`[{lowerAccented}{upperAccented}][{endPunct}]\\w`, // a literal "\w": so ftfy 6.1 writes it
		`[Œœ][^A-Za-z]`,                                   // the ligature œ not followed by a Latin letter
		// Common Windows-1252 two-character mojibake.
		`[ÂÃÎÐ][€Šš¢£Ÿž\x{a0}\x{ad}®©°·»{endPunct}–—´]`,
		`×[²³]`,
		`à[²µ¹¼½¾]`, // starts of South Asian letters
		// MacRoman mojibake.
		`√[±∂†≠®™´≤≥¥µø]`, `≈[°¢]`, `‚Ä[ìîïòôúùû†°¢π]`, `‚[âó][àä°ê]`,
		// Windows-1251 mojibake.
		`вЂ`, `[ВГРС][{c1}{bad}{startPunct}{endPunct}{currency}°µ][ВГРС]`,
		// Windows-1252 mojibake of 'à' and 'á'.
		`Ã[\x{a0}¡]`, `[a-z]{space}?Ã `, `^Ã `,
		// Windows-1253 mojibake.
		`β€[™\x{a0}Ά\x{ad}®°]`, `[ΒΓΞΟ][{c1}{bad}{startPunct}{endPunct}{currency}°][ΒΓΞΟ]`,
	}
	return regexp.MustCompile(classes.Replace(strings.Join(rules, "|")))
}()

// isBad reports whether text looks like it holds mojibake (ftfy's is_bad).
func isBad(text string) bool { return badness.MatchString(text) }
