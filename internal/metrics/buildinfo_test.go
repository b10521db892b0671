package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, src Source) string {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, body)
	}
	return string(body)
}

func TestMetricsBuildInfo(t *testing.T) {
	now := time.Now()
	snap := Snapshot{StartedAt: now, Now: now, RoutingLatency: HistogramSnapshot{Cumulative: make([]uint64, len(LatencyBuckets))},
		Build: BuildInfo{Version: "v1.2.3", Commit: "0123456789ab", GoVersion: "go1.26.8"}}
	body := scrape(t, &fakeSource{snap: snap})
	want := `statebus_build_info{commit="0123456789ab",goversion="go1.26.8",version="v1.2.3"} 1`
	if !strings.Contains(body, want+"\n") || !strings.Contains(body, "# TYPE statebus_build_info gauge") {
		t.Fatalf("/metrics lacks %s:\n%s", want, body)
	}
	mustParseProm(t, body)
	snap.Build = BuildInfo{}
	if body := scrape(t, &fakeSource{snap: snap}); strings.Contains(body, "statebus_build_info{") {
		t.Fatalf("build_info without a version:\n%s", body)
	}
}
