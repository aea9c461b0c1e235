package main

import "testing"

// A 64-byte array does not escape: it stays on the stack.
func BenchmarkSmall(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var small [64]byte
		_ = small
	}
}
