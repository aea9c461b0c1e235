package main

func main() {
	var arr [1024 * 1024 * 10]byte
	_ = arr
}
