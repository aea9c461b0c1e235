// gomatrix's addition to package runtime. driver.sh puts this file into the runtime of the cell's own build
// through `go test -overlay`, with the tiny allocator's condition in malloc.go extended by
// "&& !gomatrixNoTiny". The allocation profile (MemProfileRate 1) records every allocation except a tiny
// object packed into a block another allocation started; with GOMATRIX_NO_TINY=1 (the sites step only) every
// tiny object gets a block of its own, so each is profiled at its own line. The count of allocations is the
// same either way; only their bytes differ (a block each instead of a share).

package runtime

var gomatrixNoTiny bool

func init() {
	gomatrixNoTiny = gogetenv("GOMATRIX_NO_TINY") == "1"
}
