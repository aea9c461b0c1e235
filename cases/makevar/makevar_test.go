package main

import "testing"

// make with a non-constant size of 16 bytes.
func BenchmarkMakeVar16(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf := make([]byte, size16)
		sink += len(buf)
	}
}

// The same with 64 bytes.
func BenchmarkMakeVar64(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf := make([]byte, size64)
		sink += len(buf)
	}
}
