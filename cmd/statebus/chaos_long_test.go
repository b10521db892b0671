//go:build chaos

package main

// defaultChaosSeconds is TestChaos's length with the chaos build tag.
const defaultChaosSeconds = 120
