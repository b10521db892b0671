package protocol

import (
	"bytes"
	"testing"
)

func deliveredLines() [][]byte {
	var lines [][]byte
	for _, id := range []string{"1", "0", "42", "18446744073709551615", "123456789012345678901234567890"} {
		for _, tgt := range []string{`"sink"`, `""`, `"a\"b"`, `"caf\u00e9"`, `"naïve"`} {
			line := AppendDelivered(nil, []byte(id), String(tgt))
			lines = append(lines, line[:len(line)-1])
		}
	}
	return lines
}

// Every acknowledgement AppendDelivered writes takes the shortcut.
func TestDecodeDeliveredTakesAppendDelivered(t *testing.T) {
	for _, line := range deliveredLines() {
		var r Response
		if !r.DecodeDelivered(line) {
			t.Errorf("%s: not taken", line)
			continue
		}
		checkSameAsDecode(t, line, &r)
	}
	for _, line := range []string{
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"sink"},"Error":null,"Kind":"Reply","Id":012}`,
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"sink"},"Error":null,"Kind":"Reply","Id":"12"}`,
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"sink"},"Error":null,"Kind":"Reply","Id":}`,
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"si"nk"},"Error":null,"Kind":"Reply","Id":1}`,
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"sink\x01"},"Error":null,"Kind":"Reply","Id":1}`,
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"\xff"},"Error":null,"Kind":"Reply","Id":1}`,
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":sink},"Error":null,"Kind":"Reply","Id":1}`,
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"sink"},"Error":null,"Kind":"Reply","Id":1} `,
		`{"Success":true,"Data":{"Delivered":true,"TargetMachineId":"sink"},"Error":null,"Kind":"Event","Id":1}`,
	} {
		var r Response
		if r.DecodeDelivered([]byte(line)) {
			t.Errorf("%s: taken", line)
		}
	}
}

// checkSameAsDecode fails unless r is what Decode makes of line.
func checkSameAsDecode(t *testing.T, line []byte, r *Response) {
	t.Helper()
	var want Response
	if err := want.Decode(line); err != nil {
		t.Fatalf("%q: taken by DecodeDelivered, refused by Decode: %v", line, err)
	}
	if r.Success != want.Success || !bytes.Equal(r.Data, want.Data) || !bytes.Equal(r.Error, want.Error) ||
		r.Kind != want.Kind || r.HasKind != want.HasKind || !bytes.Equal(r.Code, want.Code) || !bytes.Equal(r.ID, want.ID) {
		t.Fatalf("%q: DecodeDelivered %+v, Decode %+v", line, *r, want)
	}
}

// Whatever line DecodeDelivered takes, Decode reads the same.
func FuzzDecodeDelivered(f *testing.F) {
	for _, line := range deliveredLines() {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var r Response
		if r.DecodeDelivered(line) {
			checkSameAsDecode(t, line, &r)
		}
	})
}
