package main

var sinkSlice []int

// collect returns a slice built by append; noinline keeps it a real call that returns the slice.
//
//go:noinline
func collect(n int) []int {
	var s []int
	for j := 0; j < n; j++ {
		s = append(s, j)
	}
	return s
}

func main() {
	sinkSlice = collect(5)
}
