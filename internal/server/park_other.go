//go:build !linux

package server

// parker is Linux only; elsewhere idle connections keep their reader.
type parker struct{}

func newParker(*Server) *parker { return nil }
func (*parker) park(*conn) bool { return false }
func (*parker) unpark(*conn)    {}
func (*parker) forget(*conn)    {}
func (*parker) stop()           {}
func (*parker) count() int      { return 0 }
