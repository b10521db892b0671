package protocol

import "encoding/binary"

// memoMax is the longest line a Decoder remembers.
const memoMax = 1024

// Decoder decodes request lines as Request.Decode does, and remembers the
// shapes of the last few event lines (SendEvent, Publish, Request) it
// decoded in full. A client's stream of events mostly repeats a few shapes:
// the same keys, machine ids and event names, with payload values and
// timestamps that change in place. A line of the same length as a
// remembered one that differs from it only inside string values, by plain
// ASCII (no quote, backslash, control character or non-ASCII byte, in a
// line that had none either), or only in the digits of numbers (not the
// first digit of an integer part), is valid JSON of exactly the same
// structure: its fields sit at the same offsets and mean the same, so
// Decode compares it with the remembered line, eight bytes at a time,
// instead of scanning it. Member names, the Type and TimeoutMs never count
// as changeable. Anything else is scanned in full, and the result is the
// same either way.
//
// The zero value is ready to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	shapes [memoShapes]*shape
	clock  uint64 // counts lines, to find the least recently used shape
	last   int    // the slot that last matched or was filled
	dry    int    // lines since the last match
	hits   uint64 // lines decoded by comparison
	streak int    // lines scanned in full since a shape was last remembered
}

// memoShapes is how many shapes a Decoder remembers.
const memoShapes = 8

// shape is one remembered line.
type shape struct {
	line []byte           // a copy of the line
	str  []uint64         // per 8 bytes of line, the high bit of each byte that may become any plain string byte
	dig  []uint64         // per 8 bytes of line, the high bit of each byte that may become any digit
	req  Request          // its decoding, without the slices; see span
	span [memoFields]span // where fields() are in line, in that order
	used uint64           // Decoder.clock when it last matched
}

// Decode decodes line into r; see Request.Decode.
func (d *Decoder) Decode(r *Request, line []byte) error {
	d.clock++
	shapes := d.shapes[:]
	if d.dry >= 2*memoShapes {
		// Nothing has matched for a while (more shapes in turn than are
		// remembered, or none repeating): try only the latest shape, so
		// that the misses do not each cost several comparisons.
		shapes = d.shapes[d.last : d.last+1]
	}
	for i, sh := range shapes {
		if sh != nil && len(line) == len(sh.line) && sh.same(line) {
			d.hits++
			d.dry = 0
			if len(shapes) > 1 {
				d.last = i
			}
			sh.used = d.clock
			*r = sh.req
			sp := &sh.span
			r.ID, r.Payload, r.Token = at(line, sp[0]), at(line, sp[1]), at(line, sp[2])
			r.ev.Source, r.ev.Target, r.ev.Name = at(line, sp[3]), at(line, sp[4]), at(line, sp[5])
			r.ev.Payload, r.ev.Timestamp = at(line, sp[6]), at(line, sp[7])
			return nil
		}
	}
	d.dry++
	err := r.Decode(line)
	if err == nil && memoable(r, line) {
		// Take a free slot at once, else replace the least recently used
		// shape at most once every memoShapes full scans, so that a client
		// cycling through more shapes than fit does not pay for
		// remembering every line, while a new shape that keeps coming
		// back still gets in.
		slot, free := d.victim()
		if free || d.streak >= memoShapes {
			if d.shapes[slot] == nil {
				d.shapes[slot] = new(shape)
			}
			if d.shapes[slot].remember(r, line) {
				d.shapes[slot].used = d.clock
				d.streak = 0
				d.last = slot
			} else {
				d.shapes[slot] = nil
			}
		} else {
			d.streak++
		}
	}
	return err
}

// victim returns the slot to remember a new shape in: a free one, or the
// least recently used.
func (d *Decoder) victim() (slot int, free bool) {
	for i, sh := range d.shapes {
		if sh == nil {
			return i, true
		}
		if sh.used < d.shapes[slot].used {
			slot = i
		}
	}
	return slot, false
}

// at returns the part of line a remembered span covers, nil for none.
func at(line []byte, sp span) []byte {
	if sp.off < 0 {
		return nil
	}
	return line[sp.off : sp.off+sp.n]
}

// span is where a field of the remembered line is: off < 0 for none.
type span struct{ off, n int32 }

// Release forgets the remembered line and its memory, for a connection
// going idle.
func (d *Decoder) Release() { *d = Decoder{} }

// memoable reports whether a decoded line may serve as a Decoder's shape.
func memoable(r *Request, line []byte) bool {
	switch r.Type {
	case TypeSendEvent, TypePublish, TypeRequest:
	default:
		return false
	}
	return r.plain && r.evValid && r.evErr == nil && len(line) <= memoMax && len(line) >= 8
}

// memoFields is the number of slices fields returns.
const memoFields = 8

// fields returns the Request's slices into its line: everything a Decoder
// re-points at the next line.
func (r *Request) fields() [memoFields]*[]byte {
	return [memoFields]*[]byte{
		&r.ID, &r.Payload, (*[]byte)(&r.Token), (*[]byte)(&r.ev.Source),
		(*[]byte)(&r.ev.Target), (*[]byte)(&r.ev.Name), &r.ev.Payload, (*[]byte)(&r.ev.Timestamp),
	}
}

// remember makes line, just decoded into r, the shape to compare with. It
// reports false if r's slices were not cut from line.
func (d *shape) remember(r *Request, line []byte) bool {
	// Offsets of r's slices, read off their capacities. A slice
	// expression s = a[i:j] (two indices, no cap limit) keeps a's backing
	// array and its end: cap(s) = cap(a) - i. Applied again to s, it
	// stays true of the sum of the lower bounds, so any field cut from
	// line by a chain of such expressions starts at
	// cap(line) - cap(field). Both capacities run to the end of the same
	// array, so this holds whatever line's own cap beyond len(line) is.
	// It relies on Request.Decode producing every field (and typ and
	// timeout below) as such a sub-slice of line, never a copy or a
	// three-index slice; the range check below rejects (returns false)
	// what cannot be one, but it is a safety net, not a proof: a
	// foreign slice with a small enough cap would pass it. Fields that
	// are nil stay nil (off < 0); an empty non-nil field gets an empty
	// span, which at() re-cuts as an empty non-nil slice.
	for i, f := range r.fields() {
		s := *f
		if s == nil {
			d.span[i].off = -1
			continue
		}
		off := cap(line) - cap(s)
		if off < 0 || off+len(s) > len(line) {
			return false
		}
		d.span[i].off, d.span[i].n = int32(off), int32(len(s))
	}
	d.req = *r
	for _, f := range d.req.fields() {
		*f = nil
	}
	d.req.typ, d.req.timeout = nil, nil
	d.line = append(d.line[:0], line...)
	words := (len(line) + 7) / 8
	if cap(d.str) < words {
		d.str, d.dig = make([]uint64, words), make([]uint64, words)
	}
	d.str, d.dig = d.str[:words], d.dig[:words]
	clear(d.str)
	clear(d.dig)
	markChangeable(line, d.str, d.dig)
	for _, tok := range [...][]byte{r.typ, r.timeout} {
		if tok != nil {
			off := cap(line) - cap(tok)
			for j := off; j < off+len(tok) && j < len(line); j++ {
				d.str[j>>3] &^= 0x80 << (8 * (j & 7))
				d.dig[j>>3] &^= 0x80 << (8 * (j & 7))
			}
		}
	}
	return true
}

// markChangeable sets, in str and dig, the bytes of a valid plain line that
// may change without changing its structure: the contents of strings that
// are not member names, and the digits of numbers except the first of an
// integer part.
func markChangeable(b []byte, str, dig []uint64) {
	set := func(m []uint64, j int) { m[j>>3] |= 0x80 << (8 * (j & 7)) }
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			end := i + 1
			for end < len(b) && b[end] != '"' {
				end++
			}
			k := skipWS(b, end+1)
			if k >= len(b) || b[k] != ':' {
				for j := i + 1; j < end; j++ {
					set(str, j)
				}
			}
			i = end + 1
		case c == '-' || isDigit(c):
			if c == '-' {
				i++
			}
			i++ // the first digit of the integer part stays
			for i < len(b) {
				c := b[i]
				if isDigit(c) {
					set(dig, i)
				} else if c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-' {
					break
				}
				i++
			}
		default:
			i++
		}
	}
}

// same reports whether line (as long as d.line) differs from d.line only
// in bytes that may change, each to a byte of its kind. It compares 32
// bytes at a time and looks closer only at blocks that differ.
func (d *shape) same(line []byte) bool {
	a, b := line, d.line[:len(line)]
	w := 0
	for len(a) >= 32 && len(b) >= 32 {
		x0, y0 := binary.LittleEndian.Uint64(a[0:8]), binary.LittleEndian.Uint64(b[0:8])
		x1, y1 := binary.LittleEndian.Uint64(a[8:16]), binary.LittleEndian.Uint64(b[8:16])
		x2, y2 := binary.LittleEndian.Uint64(a[16:24]), binary.LittleEndian.Uint64(b[16:24])
		x3, y3 := binary.LittleEndian.Uint64(a[24:32]), binary.LittleEndian.Uint64(b[24:32])
		if (x0^y0)|(x1^y1)|(x2^y2)|(x3^y3) != 0 {
			if x0 != y0 && !d.sameWord(w, x0, y0) ||
				x1 != y1 && !d.sameWord(w+1, x1, y1) ||
				x2 != y2 && !d.sameWord(w+2, x2, y2) ||
				x3 != y3 && !d.sameWord(w+3, x3, y3) {
				return false
			}
		}
		a, b, w = a[32:], b[32:], w+4
	}
	for len(a) >= 8 && len(b) >= 8 {
		x, y := binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(b)
		if x != y && !d.sameWord(w, x, y) {
			return false
		}
		a, b, w = a[8:], b[8:], w+1
	}
	if r := len(a); r > 0 {
		// The last r bytes: load the eight that end the line and shift
		// them down to where word w keeps them (lines are >= 8 bytes).
		// Little-endian, the last byte is the top lane; shifting right by
		// 8*(8-r) bits brings the last r bytes to lanes 0..r-1, as word w
		// of str and dig numbers them (w*8 = n-r), and fills the upper
		// lanes with zeros in both x and y, so they never differ.
		n := len(line)
		x := binary.LittleEndian.Uint64(line[n-8:]) >> (64 - 8*r)
		y := binary.LittleEndian.Uint64(d.line[n-8:]) >> (64 - 8*r)
		if x != y && !d.sameWord(w, x, y) {
			return false
		}
	}
	return true
}

// sameWord checks one differing word: x new, y remembered. Every lane
// where they differ must be marked changeable (in str or dig), a string
// lane must not have become a byte that would end or escape the string or
// break the line's plainness (specialBytes), and a digit lane must still
// be a digit. All three helpers are exact per lane, so the check is exact
// per lane: no lane's verdict depends on its neighbours. A lane of both
// masks does not occur (markChangeable marks string contents and number
// digits, which are disjoint).
func (d *shape) sameWord(w int, x, y uint64) bool {
	diff := nonzeroBytes(x ^ y)
	s, g := d.str[w], d.dig[w]
	return diff&^(s|g) == 0 && diff&s&specialBytes(x) == 0 && diff&g&^digitBytes(x) == 0
}

const low7 = 0x7f7f7f7f7f7f7f7f

// nonzeroBytes sets the high bit of every byte of v that is not zero, and
// only those; the other bits are 0. Unlike the subtracting helpers in
// scan.go it is exact in every lane: v & low7 clears each lane's high bit,
// so a lane holds l <= 0x7f and l + 0x7f <= 0xfe never carries into the
// next lane; its high bit is set iff l >= 1. ORing v adds the lanes whose
// own high bit was set (l may be 0 there: 0x80). So a lane is reported iff
// l != 0 or its high bit is set, that is iff the byte is not zero.
func nonzeroBytes(v uint64) uint64 { return ((v & low7) + low7 | v) & highs }

// specialBytes sets the high bit of every byte of x that may not appear
// as is in a plain string: a quote, a backslash, a control character or a
// byte outside ASCII (strSpecial's bytes), and only those, in every lane
// independently. quote and bslash are "equals c" per lane, the complement
// of nonzeroBytes(x ^ ones*c). ctrl adds 0x80-0x20 = 0x60 to the low seven
// bits l of each lane: l + 0x60 <= 0xdf never carries out of the lane, and
// its high bit is set iff l >= 0x20, so the complement's high bit is set
// iff l < 0x20: the control characters, and 0x80..0x9f, which the final
// | x reports anyway as non-ASCII. The low seven bits of the complements
// are garbage; & highs drops them.
func specialBytes(x uint64) uint64 {
	quote := ^nonzeroBytes(x ^ (ones * '"'))
	bslash := ^nonzeroBytes(x ^ (ones * '\\'))
	ctrl := ^((x & low7) + ones*(0x80-0x20)) // high bit clear iff the low 7 bits are >= 0x20
	return (quote | bslash | ctrl | x) & highs
}

// digitBytes sets the high bit of every byte of x that is '0' to '9', and
// only those, in every lane independently. With l the low seven bits of a
// lane, l + (0x80-'0') has its high bit set iff l >= '0', and
// l + (0x80-':') iff l >= ':' (= '9'+1); neither sum exceeds
// 0x7f + 0x50 = 0xcf, so neither carries into the next lane. The first
// without the second is '0' <= l <= '9'; &^ x then drops the bytes whose
// own high bit was set (0xb0..0xb9 have the same low seven bits as the
// digits).
func digitBytes(x uint64) uint64 {
	l := x & low7
	return (l + ones*(0x80-'0')) &^ (l + ones*(0x80-':')) &^ x & highs
}
