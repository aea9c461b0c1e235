package main

import "testing"

// Storing the address in a package variable: the point escapes to the heap.
func BenchmarkEscape(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sink = &point{i, i}
	}
}

// 局部变量只在函数内使用，分配在栈上
func BenchmarkLocal(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p := &point{i, i}
		_ = p.x
	}
}
