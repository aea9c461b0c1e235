// gomatrix's addition to package testing. driver.sh puts this file into the testing package of the cell's
// own build through `go test -overlay` (the toolchain's files stay as they are), with one call added at the
// top of five methods (two in ResetTimer) of testing/benchmark.go, StartTimer, StopTimer, ResetTimer, runN and
// run1, and one on the last line of launch. It sees every benchmark that go test runs, sub-benchmarks and b.Loop
// included, by the name go test prints.
//
// GOMATRIX_HOOK selects what it does (nothing when unset, so timed runs are go test's own):
//   exact  after each benchmark's final run: "gomatrix-exact NAME N ALLOCS BYTES NS STARTS RUNS", testing's
//          own totals over exactly the timed ops (go test prints ALLOCS/N truncated), how often the timer
//          started in that run, and the ops of each of the benchmark's runs ("1,100,6000": run1, the ramp-up,
//          the final run).
//   sites  every allocation profiled; the profile is snapshotted at each timer start and stop, so the
//          per-line figures cover exactly the timed ops: "gomatrix-line NAME N ALLOCS BYTES SIZE16 CALLEE
//          WHERE" per line, then "gomatrix-site-done NAME N ALLOCS BYTES TINY". With GOMATRIX_HOOK_ITERS (a
//          file of gomatrix-exact lines) each benchmark runs as many ops as it did there, up to a limit, after
//          the same runs before it (unprofiled): what a benchmark allocates can depend on what its earlier
//          runs left behind (a parser's caches, grown over its first runs, kept in a sync.Pool).
// GOMATRIX_HOOK_OUT: the file the lines are appended to. GOMATRIX_HOOK_ROOT: the directory (ending in /)
// whose files are the user's; an allocation is placed at the innermost frame in it (vendor/ excluded),
// CALLEE naming the function it called there ("-" when the line allocates itself).

package testing

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
)

var gomatrixMode = os.Getenv("GOMATRIX_HOOK")

var gomatrixOut *os.File

var gomatrixRoot = os.Getenv("GOMATRIX_HOOK_ROOT")

// Sites mode: how many ops each benchmark runs: as many as the exact run timed (allocations made once per run
// then spread over the same ops), unless that run made more than gomatrixMaxAllocs allocations, which would
// each be profiled: then fewer, at least gomatrixMinOps; a benchmark that stops and starts its timer within
// its ops pays two snapshots per op: at most gomatrixMaxWindowedOps.
var gomatrixIters = map[string]int{}

// Sites mode: the ops of each benchmark's runs between run1 and its final run in the exact run, replayed before
// the final run (at most as many ops each as the final run).
var gomatrixReplays = map[string][]int{}

// The ops of each run of a benchmark so far (replayed runs aside), and, sites mode, the benchmarks making the
// exact run's runs again (no profile, no snapshots: as in the exact run).
var (
	gomatrixRuns      = map[*B][]int{}
	gomatrixReplaying = map[*B]bool{}
)

const (
	gomatrixMaxAllocs      = 50000
	gomatrixMinOps         = 10000
	gomatrixMaxWindowedOps = 100
)

// Exact mode: timer starts of each benchmark's current run, since its last ResetTimer.
var gomatrixStarts = map[*B]int64{}

type gomatrixBucket struct {
	stack [32]uintptr
	size  int64
}

type gomatrixCounts struct{ allocs, bytes, size16 int64 }

type gomatrixPlace struct{ where, callee string }

type gomatrixWindow struct {
	isOpen  bool
	before  int // records of gomatrixBefore
	tiny    uint64
	counts  map[gomatrixPlace]gomatrixCounts
	order   []gomatrixPlace
	tinySum int64
	broken  string
}

var (
	gomatrixWindows = map[*B]*gomatrixWindow{}
	gomatrixPlaces  = map[[32]uintptr]gomatrixPlace{}
	gomatrixBefore  []runtime.MemProfileRecord // the open window's first snapshot (windows of leaves never overlap)
	gomatrixAfter   []runtime.MemProfileRecord
	gomatrixTiny    = []metrics.Sample{{Name: "/gc/heap/tiny/allocs:objects"}}
)
func init() {
	if gomatrixMode == "" {
		return
	}
	f, err := os.OpenFile(os.Getenv("GOMATRIX_HOOK_OUT"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		println("gomatrix hook:", err.Error())
		os.Exit(3)
	}
	gomatrixOut = f
	if gomatrixMode != "sites" {
		return
	}
	runtime.MemProfileRate = 1
	metrics.Read(gomatrixTiny) // the first read allocates its tables
	gomatrixBefore = make([]runtime.MemProfileRecord, 1<<14)
	gomatrixAfter = make([]runtime.MemProfileRecord, 1<<14)
	if data, err := os.ReadFile(os.Getenv("GOMATRIX_HOOK_ITERS")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			parts := strings.Fields(line)
			if (len(parts) != 7 && len(parts) != 8) || parts[0] != "gomatrix-exact" {
				continue
			}
			n, err1 := strconv.Atoi(parts[2])
			allocs, err2 := strconv.ParseInt(parts[3], 10, 64)
			starts, err3 := strconv.Atoi(parts[6])
			if err1 != nil || err2 != nil || err3 != nil || n <= 0 {
				continue
			}
			if allocs > gomatrixMaxAllocs {
				fewer := int(int64(n) * gomatrixMaxAllocs / allocs)
				if fewer < gomatrixMinOps {
					fewer = gomatrixMinOps
				}
				if fewer < n {
					n = fewer
				}
			}
			if starts > 2 && n > gomatrixMaxWindowedOps {
				n = gomatrixMaxWindowedOps
			}
			gomatrixIters[parts[1]] = n
			if len(parts) == 8 {
				runs := strings.Split(parts[7], ",")
				var replay []int
				for i := 1; i < len(runs)-1; i++ { // not run1's, not the final run
					ops, err := strconv.Atoi(runs[i])
					if err != nil || ops <= 0 {
						continue
					}
					if ops > n {
						ops = n
					}
					replay = append(replay, ops)
				}
				gomatrixReplays[parts[1]] = replay
			}
		}
	}
}

func gomatrixWrite(fields ...string) {
	gomatrixOut.WriteString(strings.Join(fields, " ") + "\n")
}

func gomatrixInt(n int64) string { return strconv.FormatInt(n, 10) }

// gomatrixSnapshot copies the profile into buf after enough collections that every allocation made so far
// is published (the runtime publishes a cycle's allocations when a later cycle ends). It allocates nothing
// unless buf is too small; then grown is true and the new buffer is among the allocations.
func gomatrixSnapshot(buf *[]runtime.MemProfileRecord) (n int, tiny uint64, grown bool) {
	gomatrixKeepPools = true // the runtime's switch (gomatrix_pools.go, made by driver.sh)
	defer func() { gomatrixKeepPools = false }()
	for {
		runtime.GC()
		runtime.GC()
		runtime.GC()
		// Work the runtime starts after a collection (the unique package's cleanup) allocates: let it finish
		// here, before the window opens, so that it is not counted as the benchmark's.
		runtime.Gosched()
		runtime.Gosched()
		runtime.Gosched()
		var ok bool
		n, ok = runtime.MemProfile(*buf, true)
		if ok {
			break
		}
		*buf = make([]runtime.MemProfileRecord, n+n/2+1024)
		grown = true
	}
	metrics.Read(gomatrixTiny)
	return n, gomatrixTiny[0].Value.Uint64(), grown
}

func gomatrixByBucket(records []runtime.MemProfileRecord) map[gomatrixBucket]gomatrixCounts {
	out := make(map[gomatrixBucket]gomatrixCounts, len(records))
	for _, rec := range records {
		if rec.AllocObjects > 0 {
			size := rec.AllocBytes / rec.AllocObjects
			c := gomatrixCounts{rec.AllocObjects, rec.AllocBytes, 0}
			if size == 16 {
				c.size16 = rec.AllocObjects
			}
			// The runtime keeps deeper stacks than the 32 frames a record shows: records whose stacks differ
			// only beyond them share a key here, and add up.
			key := gomatrixBucket{rec.Stack0, size}
			old := out[key]
			out[key] = gomatrixCounts{old.allocs + c.allocs, old.bytes + c.bytes, old.size16 + c.size16}
		}
	}
	return out
}

func (b *B) gomatrixWindow() *gomatrixWindow {
	w := gomatrixWindows[b]
	if w == nil {
		w = &gomatrixWindow{counts: map[gomatrixPlace]gomatrixCounts{}}
		gomatrixWindows[b] = w
	}
	return w
}

// gomatrixOpen starts a window: where the timer starts, next to testing's reading of its counters, with
// nothing allocated in between.
func (w *gomatrixWindow) open() {
	var grown bool
	w.before, w.tiny, grown = gomatrixSnapshot(&gomatrixBefore)
	if grown && w.broken == "" {
		w.broken = "profile-buffer-grown"
	}
	w.isOpen = true
}

// gomatrixStart is called first in StartTimer, before testing reads its counters.
func (b *B) gomatrixStart() {
	if gomatrixMode == "" || b.timerOn || gomatrixReplaying[b] {
		return
	}
	if gomatrixMode == "exact" {
		gomatrixStarts[b]++
		return
	}
	b.gomatrixWindow().open()
}

// gomatrixStop is deferred first in StopTimer, with whether the timer was running: it runs after testing
// has read its counters.
func (b *B) gomatrixStop(wasOn bool) {
	if gomatrixMode != "sites" || !wasOn {
		return
	}
	w := b.gomatrixWindow()
	if !w.isOpen {
		return
	}
	nAfter, tiny, _ := gomatrixSnapshot(&gomatrixAfter)
	w.isOpen = false
	w.tinySum += int64(tiny - w.tiny)
	before := gomatrixByBucket(gomatrixBefore[:w.before])
	for key, now := range gomatrixByBucket(gomatrixAfter[:nAfter]) {
		old := before[key]
		delta := gomatrixCounts{now.allocs - old.allocs, now.bytes - old.bytes, now.size16 - old.size16}
		if delta.allocs <= 0 {
			continue
		}
		place, known := gomatrixPlaces[key.stack]
		if !known {
			place = gomatrixLocate(key.stack)
			gomatrixPlaces[key.stack] = place
		}
		if place.where == "" { // the hook's own work
			continue
		}
		c, seen := w.counts[place]
		if !seen {
			w.order = append(w.order, place)
		}
		w.counts[place] = gomatrixCounts{c.allocs + delta.allocs, c.bytes + delta.bytes, c.size16 + delta.size16}
	}
}

// gomatrixPrepare is called first in ResetTimer: the counts start again (allocating here, before testing
// reads its counters).
func (b *B) gomatrixPrepare() {
	if gomatrixMode == "exact" {
		gomatrixStarts[b] = 0
	}
	if gomatrixMode != "sites" {
		return
	}
	old := b.gomatrixWindow()
	gomatrixWindows[b] = &gomatrixWindow{counts: map[gomatrixPlace]gomatrixCounts{}, broken: old.broken}
}

// gomatrixReset is deferred first in ResetTimer: a running timer's window starts again where testing has
// just read its counters anew.
func (b *B) gomatrixReset(wasOn bool) {
	if gomatrixMode == "sites" && wasOn && !gomatrixReplaying[b] {
		b.gomatrixWindow().open()
	}
}

// gomatrixRun1 is called first in run1: with GOMATRIX_HOOK_ITERS, the benchmark runs that many ops.
func (b *B) gomatrixRun1() {
	if gomatrixMode != "sites" {
		return
	}
	if n, ok := gomatrixIters[b.name]; ok {
		b.benchTime.n = n
	}
}

// gomatrixRunN is called first in runN, before it takes benchmarkLock. Exact mode: the run's ops are noted.
// Sites mode: before the final run (the second, after run1's), the exact run's runs in between are made again,
// unprofiled, so the final run starts from the state the exact run's started from.
func (b *B) gomatrixRunN(n int) {
	if gomatrixMode == "" || gomatrixReplaying[b] {
		return
	}
	gomatrixRuns[b] = append(gomatrixRuns[b], n)
	replay := gomatrixReplays[b.name]
	if gomatrixMode != "sites" || len(gomatrixRuns[b]) != 2 || len(replay) == 0 {
		return
	}
	runtime.MemProfileRate = 0
	gomatrixReplaying[b] = true
	defer func() {
		runtime.MemProfileRate = 1
		delete(gomatrixReplaying, b)
	}()
	for _, ops := range replay {
		if b.failed {
			return
		}
		b.runN(ops)
	}
}

// gomatrixLaunched is called on launch's last line, when the benchmark's final run has ended and before launch
// signals that it is done (the process may exit then). A benchmark that failed or skipped never gets here.
func (b *B) gomatrixLaunched() {
	if gomatrixMode == "" || b.Failed() || b.N <= 0 {
		return
	}
	name := b.name
	n := int64(b.N)
	if gomatrixMode == "exact" {
		runs := make([]string, 0, len(gomatrixRuns[b]))
		for _, ops := range gomatrixRuns[b] {
			runs = append(runs, strconv.Itoa(ops))
		}
		gomatrixWrite("gomatrix-exact", name, gomatrixInt(n), strconv.FormatUint(b.netAllocs, 10),
			strconv.FormatUint(b.netBytes, 10), gomatrixInt(b.duration.Nanoseconds()), gomatrixInt(gomatrixStarts[b]),
			strings.Join(runs, ","))
		delete(gomatrixStarts, b)
		delete(gomatrixRuns, b)
		return
	}
	delete(gomatrixRuns, b)
	w := b.gomatrixWindow()
	delete(gomatrixWindows, b)
	if w.broken != "" {
		gomatrixWrite("gomatrix-site-error", name, w.broken)
		return
	}
	for _, place := range w.order {
		c := w.counts[place]
		gomatrixWrite("gomatrix-line", name, gomatrixInt(n), gomatrixInt(c.allocs), gomatrixInt(c.bytes),
			gomatrixInt(c.size16), place.callee, place.where)
	}
	gomatrixWrite("gomatrix-site-done", name, gomatrixInt(n), strconv.FormatUint(b.netAllocs, 10),
		strconv.FormatUint(b.netBytes, 10), gomatrixInt(w.tinySum))
}

func gomatrixUser(file string) bool {
	return gomatrixRoot != "" && strings.HasPrefix(file, gomatrixRoot) &&
		!strings.HasPrefix(file[len(gomatrixRoot):], "vendor/")
}

// gomatrixLocate: the innermost frame in the user's files, with the function it called there; without
// one, the innermost function outside the runtime ("func:NAME"). The hook's own allocations: "".
func gomatrixLocate(stack [32]uintptr) gomatrixPlace {
	depth := 0
	for depth < len(stack) && stack[depth] != 0 {
		depth++
	}
	frames := runtime.CallersFrames(stack[:depth])
	callee, outside := "-", ""
	for {
		frame, more := frames.Next()
		fn := frame.Function
		if strings.HasPrefix(fn, "testing.gomatrix") || strings.HasPrefix(fn, "testing.(*B).gomatrix") {
			return gomatrixPlace{}
		}
		if gomatrixUser(frame.File) {
			return gomatrixPlace{frame.File[len(gomatrixRoot):] + ":" + strconv.Itoa(frame.Line), callee}
		}
		if fn != "" && !strings.HasPrefix(fn, "runtime.") {
			callee = fn
			if outside == "" {
				outside = fn
			}
		}
		if !more {
			break
		}
	}
	if outside == "" {
		outside = "runtime"
	}
	if depth == len(stack) { // the runtime keeps 32 frames: the user's frame may lie deeper
		return gomatrixPlace{"func:" + outside, "truncated-stack"}
	}
	return gomatrixPlace{"func:" + outside, "-"}
}
