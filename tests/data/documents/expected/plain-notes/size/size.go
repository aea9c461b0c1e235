package main

func main() {
	var small [64]byte
	_ = small
}
