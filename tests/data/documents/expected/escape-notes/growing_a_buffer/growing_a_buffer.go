package main

func main() {
	buf := make([]byte, 0, 32)
	println(len(buf))
}
