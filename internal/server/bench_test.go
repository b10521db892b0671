package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
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
// receiver, with every event acknowledged.
func BenchmarkOneWay(b *testing.B) {
	bus := startBus(b, server.Config{MaxQueueBytes: 64 << 20})
	a, c := benchDial(b, bus, "src"), benchDial(b, bus, "dst")
	line := eventLine("src", "dst")
	const batch = 64
	buf := bytes.Repeat(line, batch)
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
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; sent += batch {
		n := min(batch, b.N-sent)
		a.nc.Write(buf[:n*len(line)])
	}
	<-recv
	<-acks
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
