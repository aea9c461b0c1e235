package main

func main() {
	var small [64 << 20]byte
	_ = small
}
