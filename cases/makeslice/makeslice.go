package main

func main() {
	s := make([]byte, 1024)
	_ = s
}
