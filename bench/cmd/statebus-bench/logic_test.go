package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// TestShapes checks that shaped lines are all 240 bytes, valid, each
// shaped unlike the one before (the event name moves the payload), and
// carry their sequence number.
func TestShapes(t *testing.T) {
	tm := newShapedTemplate(senderName(1), receiverName(2), 1, 8)
	names := map[string]bool{}
	for seq := uint64(0); seq < 16; seq++ {
		tm.set(seq)
		if len(tm.line) != lineSize || !json.Valid(tm.line[:len(tm.line)-1]) || !json.Valid(tm.payload) {
			t.Fatalf("seq %d: %d bytes: %q", seq, len(tm.line), tm.line)
		}
		if src, got, ok := parseID(tm.line); !ok || src != 1 || got != seq {
			t.Fatalf("seq %d: parseID = %d, %d, %v", seq, src, got, ok)
		}
		names[tm.name] = true
	}
	if len(names) != 8 {
		t.Fatalf("%d event names, want 8", len(names))
	}
}

func TestTemplateIsA240ByteSendEventWithA100BytePayload(t *testing.T) {
	tm := newTemplate(senderName(7), receiverName(3), 7)
	if len(tm.line) != lineSize || tm.line[len(tm.line)-1] != '\n' {
		t.Fatalf("line is %d bytes: %q", len(tm.line), tm.line)
	}
	if len(tm.payload) != payloadSize || !json.Valid(tm.payload) {
		t.Fatalf("payload %q (%d bytes)", tm.payload, len(tm.payload))
	}
	var m struct {
		Type    int
		Payload struct {
			SourceMachineId, TargetMachineId, EventName string
			Payload                                     json.RawMessage
		}
	}
	if err := json.Unmarshal(tm.line, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != 2 || m.Payload.SourceMachineId != "s007" || m.Payload.TargetMachineId != "r003" || m.Payload.EventName != tm.name {
		t.Fatalf("decoded %+v", m)
	}
	for _, seq := range []uint64{0, 1, 42, 999999999999} {
		tm.set(seq)
		src, got, ok := parseID(tm.line)
		if !ok || src != 7 || got != seq {
			t.Fatalf("set(%d): parseID = %d, %d, %v", seq, src, got, ok)
		}
		if src, got, ok := parseID(tm.payload); !ok || src != 7 || got != seq {
			t.Fatalf("payload parseID = %d, %d, %v", src, got, ok)
		}
	}
}

func TestParseIDRejectsGarbage(t *testing.T) {
	for _, b := range []string{"", `{"id":"`, `{"id":"00a-000000000001"}`, `{"id":"001x000000000001"}`, `{"id":"001-00000000000z"}`, `{"ID":"001-000000000001"}`} {
		if _, _, ok := parseID([]byte(b)); ok {
			t.Errorf("parseID(%q) ok", b)
		}
	}
}

func TestSeqCheck(t *testing.T) {
	cases := []struct {
		name                        string
		count                       int
		seqs                        []uint64
		lost, dup, reordered, bogus uint64
	}{
		{"in order", 4, []uint64{0, 1, 2, 3}, 0, 0, 0, 0},
		{"lost", 4, []uint64{0, 2, 3}, 1, 0, 0, 0},
		{"duplicate", 3, []uint64{0, 1, 1, 2}, 0, 1, 0, 0},
		{"reordered", 4, []uint64{0, 2, 1, 3}, 0, 0, 1, 0},
		{"late duplicate", 3, []uint64{0, 1, 2, 0}, 0, 1, 0, 0},
		{"out of range", 2, []uint64{0, 1, 5}, 0, 0, 0, 1},
		{"nothing", 100, nil, 100, 0, 0, 0},
		{"big", 130, seqRange(130), 0, 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newSeqCheck(tc.count)
			for _, s := range tc.seqs {
				c.see(s)
			}
			var r checkResult
			r.add(c)
			if r.Lost != tc.lost || r.Dup != tc.dup || r.Reordered != tc.reordered || r.Bogus != tc.bogus {
				t.Fatalf("got %+v", r)
			}
			if r.clean() != (tc.lost+tc.dup+tc.reordered+tc.bogus == 0) || c.done() != (tc.lost == 0) {
				t.Fatalf("clean %v done %v for %+v", r.clean(), c.done(), r)
			}
		})
	}
}

func seqRange(n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i)
	}
	return s
}

func TestPercentilesAndMedians(t *testing.T) {
	lat := make([]int64, 1000)
	for i := range lat {
		lat[len(lat)-1-i] = int64(i + 1) // 1000..1, unsorted
	}
	s := summarize(lat)
	if s.N != 1000 || s.Min != 1 || s.Max != 1000 || s.P50 != 500 || s.P99 != 990 || s.P999 != 999 || s.Mean != 500.5 {
		t.Fatalf("summary %+v", s)
	}
	if p := percentile([]int64{7}, 99.9); p != 7 {
		t.Fatalf("one sample: %d", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Fatalf("no samples: %d", p)
	}
	if p := percentile([]int64{1, 2, 3, 4}, 50); p != 2 {
		t.Fatalf("nearest rank of 4: %d", p)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median odd %v", m)
	}
	if m := median([]float64{4, 1, math.NaN(), 2, 3}); m != 2.5 {
		t.Fatalf("median even, NaN ignored %v", m)
	}
	if m := median(nil); !math.IsNaN(m) {
		t.Fatalf("median of nothing %v", m)
	}
	if s := spread([]float64{90, 100, 110}); math.Abs(s-0.2) > 1e-9 {
		t.Fatalf("spread %v", s)
	}
}

func TestProcParsers(t *testing.T) {
	stat := []byte("1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0")
	if cpu, err := parseStatCPU(stat); err != nil || cpu != 3.0 {
		t.Fatalf("cpu %v %v", cpu, err)
	}
	status := []byte("Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\n")
	if rss, hwm, err := parseStatusMem(status); err != nil || rss != 1<<20 || hwm != 2<<20 {
		t.Fatalf("rss %d hwm %d %v", rss, hwm, err)
	}
	m := parseMachineCPU([]byte("cpu  100 0 50 800 10 5 5 20 0 0\ncpu0 1 2 3\n"))
	if m.Busy != 1.6 || m.Idle != 8.1 || m.Steal != 0.2 {
		t.Fatalf("machine %+v", m)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if rss, hwm, err := procMem(os.Getpid()); err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("own rss %d hwm %d %v", rss, hwm, err)
	}
}

func TestRESPEncoding(t *testing.T) {
	got := appendCommand(nil, []byte("PUBLISH"), []byte("r000"), []byte("hi"))
	want := "*3\r\n$7\r\nPUBLISH\r\n$4\r\nr000\r\n$2\r\nhi\r\n"
	if string(got) != want {
		t.Fatalf("%q", got)
	}
	body := []byte("hello\r\nworld")
	hdr := append(publishHeader("r000", len(body)), body...)
	if string(append(hdr, '\r', '\n')) != string(appendCommand(nil, []byte("PUBLISH"), []byte("r000"), body)) {
		t.Fatalf("publishHeader %q", hdr)
	}
}

func TestRESPReader(t *testing.T) {
	stream := strings.Join([]string{
		"%2\r\n+server\r\n$5\r\nredis\r\n+modules\r\n*0\r\n", // HELLO 3 map
		">3\r\n$9\r\nsubscribe\r\n$4\r\nr000\r\n:1\r\n",      // RESP3 confirmation
		":1\r\n", // PUBLISH reply
		">3\r\n$7\r\nmessage\r\n$4\r\nr000\r\n$5\r\na\r\nbc\r\n", // RESP3 push
		"*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$0\r\n\r\n",           // RESP2 message, empty
		"+OK\r\n",
		"-ERR wrong\r\n",
		"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nx\r\n$1\r\ny\r\n", // skipped whole
		":0\r\n",
	}, "")
	type v struct {
		kind byte
		n    int64
		data string
		err  bool
	}
	want := []v{{'%', 0, "", false}, {'>', 0, "", false}, {':', 1, "", false}, {respMessage, 0, "a\r\nbc", false},
		{respMessage, 0, "", false}, {'+', 0, "", false}, {'-', 0, "", true}, {'*', 0, "", false}, {':', 0, "", false}}
	for name, r := range map[string]*bufio.Reader{
		"whole":    bufio.NewReaderSize(strings.NewReader(stream), 4096),
		"one byte": bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(stream)), 16),
	} {
		t.Run(name, func(t *testing.T) {
			rr := respReader{r}
			for i, w := range want {
				kind, n, data, err := rr.next()
				if (err != nil) != w.err || kind != w.kind || n != w.n || !bytes.Equal(data, []byte(w.data)) {
					t.Fatalf("value %d: %q %d %q %v, want %+v", i, kind, n, data, err, w)
				}
			}
		})
	}
}
