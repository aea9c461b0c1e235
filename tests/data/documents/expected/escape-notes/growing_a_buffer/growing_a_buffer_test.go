package main

import "testing"

func BenchmarkGrow(b *testing.B) {
	b.ReportAllocs()
	n := 32
	for i := 0; i < b.N; i++ {
		buf := make([]byte, 0, n) // n is a variable, not a constant: heap
		_ = buf
	}
}
