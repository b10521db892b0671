package protocol

// Member names of the hot-path objects, matched with one string switch on
// the exact spelling (what every client sends) and, failing that, ignoring
// ASCII case as encoding/json and System.Text.Json's case-insensitive
// option do.
const (
	keyOther = iota
	keyType
	keyPayload
	keyID
	keyToken
)

var envelopeKeys = [...]struct {
	name string
	key  int
}{{"Type", keyType}, {"Payload", keyPayload}, {"Id", keyID}, {"Token", keyToken}}

// envelopeKey classifies a member name of the request envelope.
func envelopeKey(k []byte) int {
	switch string(k) {
	case "Type":
		return keyType
	case "Payload":
		return keyPayload
	case "Id":
		return keyID
	case "Token":
		return keyToken
	}
	for _, n := range envelopeKeys {
		if equalFold(k, n.name) {
			return n.key
		}
	}
	return keyOther
}

const (
	keySource = iota + 1
	keyTarget
	keyEventName
	keyEventPayload
	keyTimestamp
	keyTimeout
)

var eventKeys = [...]struct {
	name string
	key  int
}{
	{"SourceMachineId", keySource}, {"TargetMachineId", keyTarget}, {"EventName", keyEventName},
	{"Payload", keyEventPayload}, {"Timestamp", keyTimestamp}, {"TimeoutMs", keyTimeout},
}

// eventKey classifies a member name of an event payload.
func eventKey(k []byte) int {
	switch string(k) {
	case "SourceMachineId":
		return keySource
	case "TargetMachineId":
		return keyTarget
	case "EventName":
		return keyEventName
	case "Payload":
		return keyEventPayload
	case "Timestamp":
		return keyTimestamp
	case "TimeoutMs":
		return keyTimeout
	}
	for _, n := range eventKeys {
		if equalFold(k, n.name) {
			return n.key
		}
	}
	return keyOther
}
