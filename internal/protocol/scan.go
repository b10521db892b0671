package protocol

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects the scanner accepts.
// Deeper input is rejected as invalid JSON; the scanner is iterative, so the
// limit bounds work and memory, not the goroutine stack.
const MaxDepth = 512

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	// Most calls find no whitespace at all: one comparison decides.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString validates the JSON string starting at b[i] (which must be '"')
// and returns the index just past its closing quote, and whether it contained
// a backslash escape. The content must be valid UTF-8 (as utf8.Valid
// defines it: no surrogate halves, no overlong forms).
func skipString(b []byte, i int) (end int, escaped, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false, false
	}
	i++
	for {
		// Plain ASCII (not a quote, a backslash or a control character)
		// is by far the most common: skip it eight bytes at a time.
		if i+8 <= len(b) {
			m := stopMask(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && !strSpecial[b[i]] {
				i++
			}
			if i >= len(b) {
				return i, escaped, false
			}
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, escaped, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, escaped, false
				}
				i += 6
			default:
				return i, escaped, false
			}
		case c < 0x20:
			return i, escaped, false
		default: // the first byte of a multi-byte UTF-8 sequence
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, escaped, false
			}
			i += size
		}
	}
}

// skipStr is skipString for input known to be plain (see isPlain), where a
// string simply ends at the next quote.
func skipStr(b []byte, i int, plain bool) (end int, escaped, ok bool) {
	if !plain {
		return skipString(b, i)
	}
	if i >= len(b) || b[i] != '"' {
		return i, false, false
	}
	// Eight bytes at a time: most strings end within the first word,
	// which a call to bytes.IndexByte would cost more to set up.
	for j := i + 1; ; j += 8 {
		if j+8 > len(b) {
			for ; j < len(b); j++ {
				if b[j] == '"' {
					return j + 1, false, true
				}
			}
			return len(b), false, false
		}
		if m := quoteMask(binary.LittleEndian.Uint64(b[j:])); m != 0 {
			return j + bits.TrailingZeros64(m)>>3 + 1, false, true
		}
	}
}

// isPlain reports whether b holds no backslash, no control character and
// no byte outside ASCII. In such input every JSON string ends at its next
// quote and is valid: nothing in it needs a closer look. It reads eight
// bytes at a time without branching on them, so it costs a fraction of
// what scanning the strings byte by byte would.
func isPlain(b []byte) bool {
	var acc0, acc1 uint64
	for len(b) >= 16 {
		// Two independent accumulators let the two words' work overlap.
		acc0 |= notPlainMask(binary.LittleEndian.Uint64(b[0:8]))
		acc1 |= notPlainMask(binary.LittleEndian.Uint64(b[8:16]))
		b = b[16:]
	}
	for _, c := range b {
		if c != '"' && strSpecial[c] {
			return false
		}
	}
	return (acc0|acc1)&highs == 0
}

// The eight-byte ("SWAR", SIMD within a register) helpers below look at
// eight bytes at once: x holds them little-endian, so byte k of the input
// is lane k, bits 8k..8k+7, and the lowest lane is the first byte. Each
// reports a lane by the lane's high bit (bit 8k+7), so that a mask & highs
// keeps one bit per lane and bits.TrailingZeros64(m)>>3 is the first
// reported lane.
//
// Two families are used, and they differ in what they promise:
//
//   - The subtracting ones (quoteMask, notPlainMask, stopMask) compute
//     v - ones*n for a whole word. In a lane whose byte b is >= n and that
//     receives no borrow from the lane below, the lane computes exactly
//     b-n and lends nothing upwards; a lane with b < n lends a borrow to
//     the lane above, whose result is then off by one and may be reported
//     although its byte is not. A borrow is only ever started by a lane
//     that is itself reported, so every lane below the first reported one
//     was computed exactly (and is clear), and the first reported lane
//     was computed exactly too. The lowest set bit is therefore exact:
//     no false positive below it, no false negative at it, and the mask is
//     zero exactly when no lane qualifies. Bits above the lowest are
//     meaningless. Callers use only the lowest bit or only m != 0.
//   - The masking ones in memo.go (nonzeroBytes, specialBytes, digitBytes)
//     clear each lane's high bit before adding, so that no lane can carry
//     into the next: every lane is exact, independently of the others.
const (
	ones  = 0x0101010101010101 // 0x01 in every lane: ones*c repeats byte c
	highs = 0x8080808080808080 // the high bit of every lane
)

// quoteMask returns a mask whose lowest set bit is the high bit of the
// first lane of x holding '"', or 0 if no lane does; higher bits may be
// spurious (see above). It is the classic "haszero" test, (v-ones) &^ v &
// highs, applied to v = x ^ ones*'"', whose zero lanes are the quotes.
//
// For a lane b of v that receives no borrow: b-1 has its high bit set iff
// b == 0 or b >= 0x81, and ^b has it set iff b <= 0x7f, so both hold iff
// b == 0. Only b == 0 lends a borrow (0-1 wraps), so below the first zero
// lane there are no borrows and that lane is seen exactly. Above it a
// borrowed-into 0x01 lane reads as zero too: that is the spurious bit.
func quoteMask(x uint64) uint64 {
	v := x ^ (ones * '"')
	return (v - ones) &^ v & highs
}

// notPlainMask returns a word whose high bits, after & highs, are zero iff
// no lane of x is a backslash, a control character (< 0x20) or outside
// ASCII (>= 0x80), and otherwise have their lowest set bit at the first
// such lane. Unlike the other helpers it leaves the low seven bits of each
// lane as garbage (isPlain ORs many words together and masks once). It is
// the union, lane by lane, of three tests, each exact at the lowest
// reported lane as argued above:
//
//   - (s-ones)&^s with s = x ^ ones*'\\': "haszero" on s, the backslashes;
//   - x - ones*0x20: a lane without a borrow in has its high bit set iff
//     b < 0x20 (wraps to 0xe0..0xff) or b >= 0xa0; the second range is
//     non-ASCII, reported anyway by the next term. It lends a borrow only
//     when b < 0x20, a reported lane. (The classic "hasless(x, n)" adds
//     &^x to drop b >= 0x80 + n; here those bytes are wanted.)
//   - x: the high bit of a lane is set iff b >= 0x80.
//
// The three subtractions are separate words, so the borrows of one cannot
// reach the others, and each starts a borrow only in a reported lane; so
// every lane below the first reported one is clear in all three.
func notPlainMask(x uint64) uint64 {
	s := x ^ (ones * '\\')
	return (s-ones)&^s | (x - ones*0x20) | x
}

// stopMask looks at eight bytes of string content at once (x holds them
// little-endian) and returns a mask whose lowest set bit is the high bit of
// the first byte that is a quote, a backslash, a control character or not
// ASCII, or 0 if there is none: the bytes strSpecial marks. It is
// notPlainMask with quoteMask's term added (each exact at the lowest
// reported lane, for the reasons given there). Bits above the lowest may be
// spurious (the borrow of a subtraction runs upwards), so only the lowest
// is meaningful.
func stopMask(x uint64) uint64 {
	return (quoteMask(x) | notPlainMask(x)) & highs
}

// strSpecial marks the bytes that end a run of plain string content: what
// stopMask finds, one byte at a time.
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipNumber validates a JSON number starting at b[i].
func skipNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}

func skipLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// skipValue validates the JSON value that starts at the first non-space byte
// at or after b[i] and returns the index just past it. It accepts exactly
// what encoding/json.Valid accepts for a single value (RFC 8259), except that
// nesting deeper than MaxDepth is rejected and strings must be valid UTF-8.
func skipValue(b []byte, i int, plain bool) (int, bool) {
	// stack holds one bit per open container: 1 for an object, 0 for an array.
	var stack [MaxDepth / 64]uint64
	depth := 0
	var ok bool
	i = skipWS(b, i)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return i, false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == MaxDepth {
				return i, false
			}
			isObj := c == '{'
			if d := uint(depth); isObj {
				stack[d>>6] |= 1 << (d & 63)
			} else {
				stack[d>>6] &^= 1 << (d & 63)
			}
			depth++
			i = skipWS(b, i+1)
			if i < len(b) && (isObj && b[i] == '}' || !isObj && b[i] == ']') {
				depth--
				i++
				break
			}
			if isObj {
				if i, ok = skipKey(b, i, plain); !ok {
					return i, false
				}
			}
			continue
		case c == '"':
			if i, _, ok = skipStr(b, i, plain); !ok {
				return i, false
			}
		case c == 't':
			if i, ok = skipLiteral(b, i, "true"); !ok {
				return i, false
			}
		case c == 'f':
			if i, ok = skipLiteral(b, i, "false"); !ok {
				return i, false
			}
		case c == 'n':
			if i, ok = skipLiteral(b, i, "null"); !ok {
				return i, false
			}
		default:
			if i, ok = skipNumber(b, i); !ok {
				return i, false
			}
		}
		// A value ended at i: close containers or move to the next member.
		for {
			if depth == 0 {
				return i, true
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return i, false
			}
			d := uint(depth - 1)
			isObj := stack[d>>6]&(1<<(d&63)) != 0
			if b[i] == ',' {
				i = skipWS(b, i+1)
				if isObj {
					if i, ok = skipKey(b, i, plain); !ok {
						return i, false
					}
				}
				break
			}
			if isObj && b[i] == '}' || !isObj && b[i] == ']' {
				depth--
				i++
				continue
			}
			return i, false
		}
		i = skipWS(b, i)
	}
}

// skipKey validates `"key" :` at b[i] and returns the index of the value that
// follows (after whitespace).
func skipKey(b []byte, i int, plain bool) (int, bool) {
	i, _, ok := skipStr(b, i, plain)
	if !ok {
		return i, false
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return skipWS(b, i+1), true
}

// Valid reports whether b holds exactly one JSON value, optionally surrounded
// by whitespace, nested at most MaxDepth deep, whose strings are valid UTF-8
// (so Valid(b) is json.Valid(b) && utf8.Valid(b) within the depth limit).
func Valid(b []byte) bool {
	i, ok := skipValue(b, 0, isPlain(b))
	return ok && skipWS(b, i) == len(b)
}

// objectIter walks the members of a JSON object, validating as it goes. The
// zero value is not usable; see newObjectIter.
type objectIter struct {
	b     []byte
	i     int
	first bool
	bad   bool
	plain bool // see isPlain
	done  bool

	key    []byte // raw key token, quotes included
	keyEsc bool   // key contains escapes
	val    []byte // raw value

	kbuf [32]byte // scratch for an escaped key; see name
}

// reset starts iterating over obj, which must start (after whitespace) with
// '{'. It reports false if obj is not an object.
func (it *objectIter) reset(obj []byte) bool {
	return it.resetPlain(obj, isPlain(obj))
}

// resetPlain is reset for a caller that knows whether obj is plain (see
// isPlain), because it checked a line that holds it.
func (it *objectIter) resetPlain(obj []byte, plain bool) bool {
	it.b = obj
	it.plain = plain
	it.i = skipWS(obj, 0)
	it.first = true
	it.bad = false
	it.done = false
	if it.i >= len(obj) || obj[it.i] != '{' {
		it.bad = true
		return false
	}
	it.i++
	return true
}

// next advances to the next member. It returns false at the end of the
// object or on a syntax error; err reports which.
func (it *objectIter) next() bool {
	return it.nextKey() && it.skip()
}

// skip validates the current member's value, which starts at it.i, and
// sets it.val.
func (it *objectIter) skip() bool {
	vstart := it.i
	i, ok := skipValue(it.b, vstart, it.plain)
	if !ok {
		it.bad = true
		return false
	}
	it.val = it.b[vstart:i]
	it.i = i
	return true
}

// nextKey advances to the next member's key and leaves it.i at the start
// of its value, for the caller to skip or descend into.
func (it *objectIter) nextKey() bool {
	if it.bad || it.done {
		return false
	}
	b := it.b
	i := skipWS(b, it.i)
	if i < len(b) && b[i] == '}' {
		it.i = i + 1
		it.done = true
		return false
	}
	if !it.first {
		if i >= len(b) || b[i] != ',' {
			it.bad = true
			return false
		}
		i = skipWS(b, i+1)
	}
	it.first = false
	start := i
	end, esc, ok := skipStr(b, i, it.plain)
	if !ok {
		it.bad = true
		return false
	}
	it.key, it.keyEsc = b[start:end], esc
	i = skipWS(b, end)
	if i >= len(b) || b[i] != ':' {
		it.bad = true
		return false
	}
	it.i = skipWS(b, i+1)
	return true
}

// err reports whether iteration stopped on a syntax error.
func (it *objectIter) err() bool { return it.bad }

// rest returns what follows the object's closing brace; valid once next has
// returned false without an error.
func (it *objectIter) rest() []byte { return it.b[it.i:] }

// is reports whether the current key equals name, ignoring ASCII case as
// encoding/json does.
func (it *objectIter) is(name string) bool {
	if it.keyEsc {
		return it.isEscaped(name)
	}
	k := it.key[1 : len(it.key)-1]
	if len(k) != len(name) {
		return false
	}
	return string(k) == name || equalFold(k, name)
}

// name returns the current key's content without its quotes, unescaped if
// it was written with escapes (rare: only then does it copy).
func (it *objectIter) name() []byte {
	if !it.keyEsc {
		return it.key[1 : len(it.key)-1]
	}
	k, _ := appendUnquoted(it.kbuf[:0], it.key)
	return k
}

// isEscaped is is for a key written with escapes, such as "Typ\u0065"
// (rare; kept apart so the common path needs no scratch buffer).
func (it *objectIter) isEscaped(name string) bool {
	var buf [64]byte
	k, _ := appendUnquoted(buf[:0], it.key)
	return len(k) == len(name) && equalFold(k, name)
}
