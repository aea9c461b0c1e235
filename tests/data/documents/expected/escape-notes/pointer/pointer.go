package main

type point struct{ x, y int }

var sink *point

func main() {
	p := point{3, 4}
	println(p.x)
}
