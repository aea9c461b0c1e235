// gomatrix's addition to package runtime. driver.sh puts this file into the runtime of the cell's own build
// through `go test -overlay`, with the tiny allocator's condition in malloc.go extended by
// "&& !gomatrixNoTiny", and sync.Pool's cleanup (and, in go1.23 and go1.24, the unique package's) in mgc.go by
// "&& !gomatrixKeepPools". The allocation profile (MemProfileRate 1) records every allocation except a tiny
// object packed into a block another allocation started; with GOMATRIX_NO_TINY=1 (the sites step only) every
// tiny object gets a block of its own, so each is profiled at its own line. The count of allocations is the
// same either way; only their bytes differ (a block each instead of a share).

package runtime

import _ "unsafe" // for go:linkname (package testing sets gomatrixKeepPools)

var gomatrixNoTiny bool

// gomatrixKeepPools is set by the hook around the collections it makes for its profile snapshots (mgc.go's
// clearpools gets "&& !gomatrixKeepPools"): those collections are not the benchmark's, so they must not
// empty its sync.Pools, which testing's own collection before each run leaves half full, nor wake the unique
// package's cleanup goroutine, whose allocations would fall into the timed ops that follow.
//go:linkname gomatrixKeepPools
var gomatrixKeepPools bool

func init() {
	gomatrixNoTiny = gogetenv("GOMATRIX_NO_TINY") == "1"
}
