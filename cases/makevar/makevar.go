package main

// The sizes are package variables, so the compiler cannot treat them as constants.
var size16, size64 = 16, 64

var sink int

func main() {
	buf := make([]byte, size64)
	sink = len(buf)
}
