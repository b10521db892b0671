package server

import "time"

// Parked reports how many of s's connections are parked.
func Parked(s *Server) int {
	s.mu.Lock()
	p := s.parker
	s.mu.Unlock()
	return p.count()
}

// SetParkAfter changes how soon idle connections park, for tests that
// want parking everywhere; it returns a function restoring the old value.
func SetParkAfter(d time.Duration) (restore func()) {
	old := parkAfter
	parkAfter = d
	return func() { parkAfter = old }
}
