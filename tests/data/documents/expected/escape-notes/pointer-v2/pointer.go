package main

type point struct{ x, y int }

var sink *point

func main() {
	sink = &point{3, 4}
	println(sink.x)
}
