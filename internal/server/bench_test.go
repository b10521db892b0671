package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/server"
)

// benchClient is an allocation-free wire client for benchmarks.
type benchClient struct {
	nc net.Conn
	rd *bufio.Reader
}

func benchDial(b *testing.B, bus *testBus, id string) *benchClient {
	nc, err := net.Dial("unix", bus.path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	c := &benchClient{nc: nc, rd: bufio.NewReaderSize(nc, 64<<10)}
	fmt.Fprintf(nc, `{"Type":0,"Payload":{"MachineId":%q}}`+"\n", id)
	if line := c.readLine(b); !bytes.Contains(line, []byte(`"Success":true`)) {
		b.Fatalf("register: %s", line)
	}
	return c
}

func (c *benchClient) readLine(b *testing.B) []byte {
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		b.Error(err)
	}
	return line
}

// 240-byte SendEvent lines with a 100-byte JSON payload, as the
// performance issue specifies.
func eventLine(src, dst string) []byte {
	payload := fmt.Sprintf(`{"seq":1,"data":"%s"}`, bytes.Repeat([]byte("x"), 79))
	return []byte(fmt.Sprintf(`{"Type":2,"Payload":{"SourceMachineId":%q,"TargetMachineId":%q,"EventName":"TICK","Payload":%s,"Timestamp":"2025-10-04T02:24:28.5551234Z"}}`+"\n", src, dst, payload))
}

// BenchmarkPingPong measures a full round trip through the bus: A sends an
// event to B, B answers with an event to A; each send is acknowledged.
func BenchmarkPingPong(b *testing.B) {
	bus := startBus(b, server.Config{})
	a, c := benchDial(b, bus, "bench-a"), benchDial(b, bus, "bench-b")
	toB, toA := eventLine("bench-a", "bench-b"), eventLine("bench-b", "bench-a")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			c.readLine(b) // the event from A
			c.nc.Write(toA)
			c.readLine(b) // ack of the send to A
		}
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(toB)))
	b.ResetTimer()
	for range b.N {
		a.nc.Write(toB)
		a.readLine(b) // ack (or event; order between them varies)
		a.readLine(b)
	}
	<-done
}

// BenchmarkOneWay measures pipelined throughput from one sender to one
// receiver, with every event acknowledged: with lines of one shape (what a
// client usually sends: the bus decodes them by comparison with the last
// one, see protocol.Decoder) and with every line shaped differently from
// the one before (event names of eight lengths in turn: every line is
// scanned in full).
func BenchmarkOneWay(b *testing.B) {
	b.Run("same-shape", func(b *testing.B) {
		oneWay(b, [][]byte{eventLine("src", "dst")})
	})
	b.Run("every-line-different", func(b *testing.B) {
		var lines [][]byte
		for n := 1; n <= 8; n++ {
			name := strings.Repeat("T", n)
			lines = append(lines, bytes.Replace(eventLine("src", "dst"), []byte(`"TICK"`), []byte(`"`+name+`"`), 1))
		}
		oneWay(b, lines)
	})
}

func oneWay(b *testing.B, lines [][]byte) {
	bus := startBus(b, server.Config{MaxQueueBytes: 64 << 20})
	a, c := benchDial(b, bus, "src"), benchDial(b, bus, "dst")
	const batch = 64
	var buf []byte
	var ends []int // where each line of buf ends
	for i := range batch {
		buf = append(buf, lines[i%len(lines)]...)
		ends = append(ends, len(buf))
	}
	acks := make(chan struct{})
	go func() {
		defer close(acks)
		for range b.N {
			a.readLine(b)
		}
	}()
	recv := make(chan struct{})
	go func() {
		defer close(recv)
		for range b.N {
			c.readLine(b)
		}
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(buf) / batch))
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; sent += batch {
		n := min(batch, b.N-sent)
		a.nc.Write(buf[:ends[n-1]])
	}
	<-recv
	<-acks
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
