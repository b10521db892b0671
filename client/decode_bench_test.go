package client

import (
	"testing"

	"github.com/statebus/statebus/internal/protocol"
)

// BenchmarkDecodeEvent decodes a pushed event line as the reader does for
// every event it receives.
func BenchmarkDecodeEvent(b *testing.B) {
	line := []byte(`{"Success":true,"Data":{"SourceMachineId":"s-000","TargetMachineId":"r-000","EventName":"E","Payload":{"id":"000-000000000001","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"Timestamp":"2026-12-07T10:44:50.0907277Z"},"Error":null,"Kind":"Event"}`)
	var r protocol.Response
	if err := r.Decode(line); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decodeEvent(r.Data, protocol.KindEvent); !ok {
			b.Fatal("not decoded")
		}
	}
}
