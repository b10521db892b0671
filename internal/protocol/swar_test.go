package protocol

import (
	"math/rand/v2"
	"testing"
)

// The eight-byte helpers are checked against one-byte-at-a-time
// references, exhaustively: every byte value in every lane over every
// background byte, and every pair of byte values in every pair of lanes.
// Pairs are where a helper could go wrong: a borrow or carry out of one
// lane changing the verdict on another.

// swarRef is a helper and its one-byte reference predicate.
type swarRef struct {
	name string
	fn   func(uint64) uint64
	ref  func(c byte) bool
	// lowest: only the lowest set bit is promised (the subtracting
	// helpers); otherwise every lane must be exact.
	lowest bool
}

func swarHelpers() []swarRef {
	isQuote := func(c byte) bool { return c == '"' }
	notPlain := func(c byte) bool { return c == '\\' || c < 0x20 || c >= 0x80 }
	special := func(c byte) bool { return c == '"' || notPlain(c) }
	return []swarRef{
		{"quoteMask", quoteMask, isQuote, true},
		{"notPlainMask", func(x uint64) uint64 { return notPlainMask(x) & highs }, notPlain, true},
		{"stopMask", stopMask, special, true},
		{"nonzeroBytes", nonzeroBytes, func(c byte) bool { return c != 0 }, false},
		{"specialBytes", specialBytes, special, false},
		{"digitBytes", digitBytes, func(c byte) bool { return c >= '0' && c <= '9' }, false},
	}
}

// swarOK reports whether m, what a helper returned, agrees with want,
// the reference's mask (the high bit of every lane it reports): equal for
// the exact helpers; for the others, no bits outside the high bits and
// the same lowest set bit (zero when want is).
func swarOK(h swarRef, m, want uint64) bool {
	if !h.lowest {
		return m == want
	}
	return m&^highs == 0 && m&-m == want&-want
}

// swarWant is the reference's mask for x, a lane at a time.
func swarWant(x uint64, table *[256]bool) uint64 {
	var want uint64
	for k := 0; k < 8; k++ {
		if table[byte(x>>(8*k))] {
			want |= 0x80 << (8 * k)
		}
	}
	return want
}

func refTable(ref func(byte) bool) *[256]bool {
	var t [256]bool
	for c := range t {
		t[c] = ref(byte(c))
	}
	return &t
}

func TestSWAREveryByteInEveryLane(t *testing.T) {
	for _, h := range swarHelpers() {
		table := refTable(h.ref)
		for bg := 0; bg < 256; bg++ {
			var bgWant uint64
			if table[bg] {
				bgWant = highs
			}
			for lane := 0; lane < 8; lane++ {
				base := ones * uint64(bg) &^ (0xff << (8 * lane))
				for c := 0; c < 256; c++ {
					x := base | uint64(c)<<(8*lane)
					want := bgWant &^ (0x80 << (8 * lane))
					if table[c] {
						want |= 0x80 << (8 * lane)
					}
					if m := h.fn(x); !swarOK(h, m, want) {
						t.Fatalf("%s(%#016x) = %#016x, want %#016x", h.name, x, m, want)
					}
				}
			}
		}
	}
}

func TestSWAREveryPairOfLanes(t *testing.T) {
	for _, h := range swarHelpers() {
		table := refTable(h.ref)
		// A background the helper does not report, so that both lanes
		// under test matter (for the lowest-lane helpers a reported
		// background lane below them would hide them).
		bg := byte('a')
		if table[bg] {
			bg = 0
		}
		for lo := 0; lo < 8; lo++ {
			for hi := lo + 1; hi < 8; hi++ {
				base := ones * uint64(bg) &^ (0xff<<(8*lo) | 0xff<<(8*hi))
				for a := 0; a < 256; a++ {
					for b := 0; b < 256; b++ {
						x := base | uint64(a)<<(8*lo) | uint64(b)<<(8*hi)
						var want uint64
						if table[a] {
							want |= 0x80 << (8 * lo)
						}
						if table[b] {
							want |= 0x80 << (8 * hi)
						}
						if m := h.fn(x); !swarOK(h, m, want) {
							t.Fatalf("%s(%#016x) = %#016x, want %#016x", h.name, x, m, want)
						}
					}
				}
			}
		}
	}
}

// TestSWARRandomWords mixes all eight lanes, drawn mostly from the bytes
// next to the helpers' boundaries.
func TestSWARRandomWords(t *testing.T) {
	near := []byte{0, 1, 0x1f, 0x20, 0x21, '"', '#', '/', '0', '9', ':', '[', '\\', ']', 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xa2, 0xb0, 0xb9, 0xdc, 0xff}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, h := range swarHelpers() {
		table := refTable(h.ref)
		for range 20_000 {
			var x uint64
			for k := 0; k < 8; k++ {
				c := near[rng.IntN(len(near))]
				if rng.IntN(4) == 0 {
					c = byte(rng.Uint32())
				}
				x |= uint64(c) << (8 * k)
			}
			want := swarWant(x, table)
			if m := h.fn(x); !swarOK(h, m, want) {
				t.Fatalf("%s(%#016x) = %#016x, want %#016x", h.name, x, m, want)
			}
		}
	}
}

// TestIsPlainEveryByteEverywhere puts every byte value at every position
// of a plain input long enough to use both the eight-byte loop and the
// byte loop of isPlain, after each kind of prefix.
func TestIsPlainEveryByteEverywhere(t *testing.T) {
	ref := func(b []byte) bool {
		for _, c := range b {
			if c == '\\' || c < 0x20 || c >= 0x80 {
				return false
			}
		}
		return true
	}
	for _, n := range []int{15, 16, 17, 33, 40} {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := make([]byte, n)
				for k := range b {
					b[k] = "{\"a\":\"b c\"}1"[k%12]
				}
				b[pos] = byte(c)
				if got, want := isPlain(b), ref(b); got != want {
					t.Fatalf("isPlain(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}
