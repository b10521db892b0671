package protocol

// The SendEvent acknowledgement as AppendDelivered writes it, around the
// target's id token and the request's Id.
const (
	deliveredHead = `{"Success":true,"Data":{"Delivered":true,"TargetMachineId":`
	deliveredTail = `},"Error":null,"Kind":"Reply","Id":`
	dataAt        = len(`{"Success":true,"Data":`)
)

// DecodeDelivered is a shortcut of Decode for the line a sending client
// reads most: a SendEvent acknowledgement exactly as AppendDelivered
// writes it, with a number as its Id. It reports whether line has that
// form; if so, r is set as Decode would set it (only the target's id is
// walked: the rest of the line is compared with the form). Otherwise r is
// left as it was and the caller decodes the line as any other.
func (r *Response) DecodeDelivered(line []byte) bool {
	n := len(line)
	if n < len(deliveredHead)+len(deliveredTail)+4 || string(line[:len(deliveredHead)]) != deliveredHead || line[n-1] != '}' {
		return false
	}
	k := n - 1 // the Id is line[k:n-1]
	for k > len(deliveredHead) && isDigit(line[k-1]) {
		k--
	}
	if k == n-1 || line[k] == '0' && k+1 < n-1 { // no Id, or a leading zero (not JSON)
		return false
	}
	t := k - len(deliveredTail) // the end of the target's token
	if t < len(deliveredHead) || string(line[t:k]) != deliveredTail {
		return false
	}
	if end, _, ok := skipString(line[:t], len(deliveredHead)); !ok || end != t {
		return false
	}
	*r = Response{Success: true, Data: line[dataAt : t+1], Kind: KindReply, HasKind: true, ID: line[k : n-1]}
	return true
}
