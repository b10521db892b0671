package protocol

import (
	"bytes"
	"testing"
)

var responseEventSeeds = []string{
	`{"Success":true,"Data":{"SourceMachineId":"s","TargetMachineId":"r","EventName":"E","Payload":{"a":[1,2]},"Timestamp":"2026-12-07T10:44:50.0907277Z"},"Error":null,"Kind":"Event"}`,
	`{"Success":true,"Data":{"SourceMachineId":"s","TargetMachineId":"r","EventName":"E","Payload":null,"RequestId":7},"Kind":"Request"}`,
	`{"Success":true,"Data":{"SourceMachineId":"s","EventName":"E"},"Kind":"Event"}`,
	`{"Success":true,"Data":{"SourceMachineId":1,"TargetMachineId":"r","EventName":"E"},"Kind":"Event"}`,
	`{"Success":true,"Data":{"SourceMachineId":"s","TargetMachineId":"r","EventName":"E"},"Data":null}`,
	`{"Data":null,"data":{"SourceMachineId":"s","TargetMachineId":"r","EventName":"E"}}`,
	`{"Success":true,"Data":{"Pong":true},"Error":null,"Kind":"Reply","Id":3}`,
	`{"Success":false,"Data":null,"Error":"no","Code":"queue_full","Id":4}`,
	`{"Success":true,"Data":{"SourceMachineId":"s\u0041","TargetMachineId":"r","EventName":"E",}}`,
	`{"Success":true,"Data":[1,{"SourceMachineId":"s"}]}`,
}

// DecodeEvent agrees with Decode followed by Event.Decode of Data.
func TestDecodeEventAgrees(t *testing.T) {
	for _, s := range responseEventSeeds {
		checkDecodeEvent(t, []byte(s))
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range responseEventSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkDecodeEvent(t, line) })
}

func checkDecodeEvent(t *testing.T, line []byte) {
	t.Helper()
	var r1, r2 Response
	var want, got Event
	err1 := r1.Decode(line)
	ok, err2 := r2.DecodeEvent(line, &got)
	if err1 != nil {
		// DecodeEvent may accept a Data as deep as MaxDepth, which
		// Decode refuses; anything else Decode refuses, it refuses too.
		if err2 == nil && bytes.Count(line, []byte("["))+bytes.Count(line, []byte("{")) < MaxDepth {
			t.Fatalf("%q: Decode %v, DecodeEvent ok", line, err1)
		}
		return
	}
	if err2 != nil {
		t.Fatalf("%q: Decode ok, DecodeEvent %v", line, err2)
	}
	if r1.Success != r2.Success || !bytes.Equal(r1.Data, r2.Data) || !bytes.Equal(r1.Error, r2.Error) || r1.Kind != r2.Kind ||
		r1.HasKind != r2.HasKind || !bytes.Equal(r1.Code, r2.Code) || !bytes.Equal(r1.ID, r2.ID) {
		t.Fatalf("%q: responses differ: %+v / %+v", line, r1, r2)
	}
	wantOK := len(r1.Data) > 0 && r1.Data[0] == '{' && want.Decode(r1.Data, true) == nil
	if ok != wantOK {
		t.Fatalf("%q: ok %v, want %v", line, ok, wantOK)
	}
	if ok && (!bytes.Equal(got.Source, want.Source) || !bytes.Equal(got.Target, want.Target) || !bytes.Equal(got.Name, want.Name) ||
		!bytes.Equal(got.Payload, want.Payload) || !bytes.Equal(got.Timestamp, want.Timestamp) || got.TimeoutMs != want.TimeoutMs) {
		t.Fatalf("%q: events differ: %+v / %+v", line, got, want)
	}
}
