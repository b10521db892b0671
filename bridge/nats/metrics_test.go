package nats

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/statebus/statebus/internal/metrics"
)

func TestBridgeStateInMetrics(t *testing.T) {
	n := startNATS(t)
	a, b := startHost(t, n, "alpha"), startHost(t, n, "beta")
	meshed(t, a, b)
	b.dial("far-1", "far-2")
	hs := httptest.NewServer(metrics.Handler(a.srv))
	defer hs.Close()
	waitFor(t, 10*time.Second, "alpha to see beta's machines", func() bool {
		resp, err := hs.Client().Get(hs.URL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		s := string(body)
		return strings.Contains(s, "statebus_bridge_up 1") && strings.Contains(s, "statebus_bridge_hosts 1") &&
			strings.Contains(s, "statebus_remote_machines 2")
	})
}
