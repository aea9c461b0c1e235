package main

import "testing"

// Appends 0 to 7 ints (i % 8) to a nil slice: the number of growths differs between ops,
// so allocs/op is not a whole number.
func BenchmarkAppendVaried(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var s []int
		for j := 0; j < i%8; j++ {
			s = append(s, j)
		}
		sinkSlice = s
	}
}

// The same appends in a function that returns the slice.
func BenchmarkCollectVaried(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sinkSlice = collect(i % 8)
	}
}

// Ten appends in a function that returns the slice.
func BenchmarkCollect10(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sinkSlice = collect(10)
	}
}
