//go:build !chaos

package main

// defaultChaosSeconds is TestChaos's length in ordinary test runs.
const defaultChaosSeconds = 4
