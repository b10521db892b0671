// Package archtest holds a test that keeps the package graph of
// docs/architecture.md true. It has no code of its own.
package archtest
