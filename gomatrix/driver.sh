#!/bin/sh
# gomatrix in-cell driver. POSIX sh only: golang images ship no Python, and the
# host runner runs this same file, so both runners take identical steps.
#
# Usage: driver.sh ROOT [ROOT...]   (several cells run one after the other)
#   ROOT/case      the case's Go files (read only)
#   ROOT/cell.env  optional: sourced first (per-cell settings below)
#   ROOT/hook      optional: gomatrix_hook.go, put into the cell's own build of package testing through
#                  go test -overlay (the toolchain and the case are never modified; see hook.go): with it,
#                  every benchmark go test reports, sub-benchmarks and b.Loop included, gets exact totals
#                  (step "exact", exact.txt) and the allocation profile of its timed ops per line (step
#                  "sites", sites.txt); without it, or where the toolchain's testing cannot take it (hook.txt
#                  says why), the cell keeps go test's truncated figures
#   ROOT/out       raw outputs written here, steps.tsv (name, exit, start, end) and exit (the code)
#   ROOT/case      a module case (GOMATRIX_MODULE=1): the module's root (go.mod); every package that
#                  GOMATRIX_PACKAGES (go list patterns) matches and that has test files is compiled
#                  into its own test binary with -gcflags=<package>=-m=2 (that package only, its
#                  dependencies plain; escape.txt holds one "gomatrix-package: PATH" section each, paths
#                  relative to the module root), and its benchmarks matching GOMATRIX_BENCH run in its
#                  directory (bench.txt: the binaries' outputs one after the other, each with its pkg: line).
#                  Dependencies: GOMATRIX_GOFLAGS=-mod=vendor, or GOMATRIX_MODCACHE (a filled module
#                  cache, read-only) with GOFLAGS=-mod=mod; GOPROXY stays off. exact.txt and sites.txt hold
#                  one "gomatrix-package: PATH" section per package.
# Environment: GOMATRIX_BENCHTIME, GOMATRIX_COUNT, GOCACHE (optional);
#   GOMATRIX_COVER: 1 (default) builds and runs the coverage binary (which lines the benchmarks run); 0 not;
#   GOMATRIX_TIMINGS: 1 (default) runs the timed samples (count x benchtime, step "bench") for ns/op; 0 skips
#   them: the allocation facts come from the exact and sites steps alone;
#   GOMATRIX_GOARCH: compile for this GOARCH (cross-compilation by the native toolchain);
#   GOMATRIX_EXEC: a command that runs the test binary (e.g. qemu-aarch64-static without binfmt);
#   GOMATRIX_PHASE: all, build or run (see below: cross in containers builds and runs in two images).
# Exit (per cell, in ROOT/out/exit; the script exits with the last one):
#   0 all steps ran; 10 go missing; 20 case did not compile; 30 benchmarks failed; 40 killed at
#   GOMATRIX_CELL_TIMEOUT (ROOT/out/oom exists when the kernel killed a process for memory meanwhile).
set -u
# The kernel's count of processes killed for memory in this cgroup (v2 or v1; empty if unknown).
oom_kills() {
	for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do
		if [ -r "$f" ]; then
			while read -r key value; do
				[ "$key" = oom_kill ] && { echo "$value"; return; }
			done < "$f"
		fi
	done
}
[ $# -ge 1 ] || { echo "usage: driver.sh ROOT [ROOT...]" >&2; exit 2; }
# GOMATRIX_CELL_TIMEOUT (seconds; needs setsid): each cell runs in its own session; at the limit
# its whole process group is killed and ROOT/out/exit says 40. After every cell, whatever the cell
# left running (background processes, a fork bomb) is killed before the next cell starts.
limit=${GOMATRIX_CELL_TIMEOUT:-}
if [ -n "$limit" ] && command -v setsid > /dev/null 2>&1; then
	last=0
	for cell in "$@"; do
		mkdir -p "$cell/out" || exit 10
		rm -f "$cell/out/timed-out"
		before=$(oom_kills)
		GOMATRIX_CELL_TIMEOUT= setsid sh "$0" "$cell" &
		pid=$!
		(sleep "$limit"; echo "$limit" > "$cell/out/timed-out"; kill -KILL -- "-$pid") 2> /dev/null &
		dog=$!
		wait "$pid"
		last=$?
		kill -KILL "$dog" 2> /dev/null
		kill -KILL -- "-$pid" 2> /dev/null
		if [ -f "$cell/out/timed-out" ] && [ ! -f "$cell/out/exit" ]; then
			echo 40 > "$cell/out/exit"
			last=40
		fi
		[ "$(oom_kills)" = "$before" ] || : > "$cell/out/oom"
		echo "gomatrix-driver: cell $cell exit $last" >&2
	done
	exit "$last"
fi
if [ $# -gt 1 ]; then
	last=0
	for cell in "$@"; do
		sh "$0" "$cell"
		last=$?
	done
	exit "$last"
fi
root=$1
out="$root/out"
work="$root/work"
mkdir -p "$out" "$work" || exit 10
: > "$out/steps.tsv"
if [ -f "$root/cell.env" ]; then
	. "$root/cell.env"
fi
benchtime=${GOMATRIX_BENCHTIME:-1s}
count=${GOMATRIX_COUNT:-1}

# Offline and reproducible: never download a toolchain or a module, no cgo.
GOTOOLCHAIN=local
GOPROXY=off
GOFLAGS=${GOMATRIX_GOFLAGS:--mod=mod}
GO111MODULE=on
CGO_ENABLED=0
GOCACHE=${GOCACHE:-$root/gocache}
export GOTOOLCHAIN GOPROXY GOFLAGS GO111MODULE CGO_ENABLED GOCACHE
module=${GOMATRIX_MODULE:-}
if [ -n "$module" ]; then
	# The module cache was filled and its go.sum hashes checked before the cell (outside it); no
	# checksum database can answer here.
	GOSUMDB=off
	export GOSUMDB
	if [ -n "${GOMATRIX_MODCACHE:-}" ]; then
		GOMODCACHE=$GOMATRIX_MODCACHE
		export GOMODCACHE
	fi
fi
if [ -n "${GOMATRIX_GOARCH:-}" ]; then
	GOOS=linux
	GOARCH=$GOMATRIX_GOARCH
	export GOOS GOARCH
fi

now() {
	read -r up _ < /proc/uptime
	echo "$up"
}

# step NAME OUTFILE COMMAND...: run COMMAND with its output in OUTFILE, record the timing.
step() {
	name=$1
	file=$2
	shift 2
	start=$(now)
	"$@" > "$out/$file" 2>&1
	rc=$?
	printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$start" "$(now)" >> "$out/steps.tsv"
	echo "gomatrix-driver: $name exit $rc" >&2
	return "$rc"
}

prepare() {
	cp -R "$root/case/." "$work/" || return 1
	chmod -R u+w "$work" || return 1
	if [ ! -f "$work/go.mod" ]; then
		(cd "$work" && go mod init gomatrix.invalid/case) || return 1
	fi
}

# The hook's overlay: the toolchain's testing/benchmark.go with one call added at the top of five methods
# (on the func line itself, so no line number moves) and one on launch's last line (where it sets b.result:
# before launch signals that the benchmark is done, after which the process may exit), and
# gomatrix_hook.go added to package testing. Prints why not when testing does not have these six places.
make_hook() {
	[ -f "$root/hook/gomatrix_hook.go" ] || { echo "no hook file given"; return 1; }
	goroot=$(go env GOROOT) || return 1
	ov="$root/overlay"  # ROOT/hook is the runner's (read-only in a container); what is made here goes beside it
	mkdir -p "$ov" || return 1
	src="$goroot/src/testing/benchmark.go"
	[ -f "$src" ] || { echo "$src: not found"; return 1; }
	sed -e 's/^func (b \*B) StartTimer() {$/& b.gomatrixStart();/' \
		-e 's/^func (b \*B) StopTimer() {$/& defer b.gomatrixStop(b.timerOn);/' \
		-e 's/^func (b \*B) ResetTimer() {$/& b.gomatrixPrepare(); defer b.gomatrixReset(b.timerOn);/' \
		-e 's/^func (b \*B) runN(n int) {$/& b.gomatrixRunN(n);/' \
		-e 's/^func (b \*B) run1() bool {$/& b.gomatrixRun1();/' \
		-e 's/^\([[:space:]]*\)\(b\.result = BenchmarkResult{\)/\1b.gomatrixLaunched(); \2/' "$src" > "$ov/benchmark.go" \
		|| return 1
	found=$(grep -c 'b\.gomatrix' "$ov/benchmark.go")
	[ "$found" = 6 ] || {
		echo "$src: $found of the 6 places (StartTimer StopTimer ResetTimer runN run1, launch's result) found"
		return 1
	}
	testing_only="\"$src\":\"$ov/benchmark.go\",\"$goroot/src/testing/gomatrix_hook.go\":\"$root/hook/gomatrix_hook.go\""
	replace=$testing_only
	# The tiny allocator, switchable off for the sites step (hook_runtime.go): every "fits into the current
	# tiny block" test in the runtime's allocators gets "&& !gomatrixNoTiny". Optional: without it the tiny
	# objects packed into shared blocks stay unprofiled, and the cell says so.
	rt="$goroot/src/runtime"
	tiny=0
	if [ -f "$root/hook/gomatrix_runtime.go" ]; then
		for f in malloc.go malloc_generated.go; do
			[ -f "$rt/$f" ] || continue
			sed -e 's/^\([[:space:]]*if off+\(const\)\{0,1\}size <= maxTinySize && c\.tiny != 0\) {$/\1 \&\& !gomatrixNoTiny {/' \
				"$rt/$f" > "$ov/$f" || return 1
			n=$(grep -c 'gomatrixNoTiny {$' "$ov/$f")
			tiny=$((tiny + n))
			replace="$replace,\"$rt/$f\":\"$ov/$f\""
		done
	fi
	# sync.Pool's cleanup, held off during the hook's own collections (hook_runtime.go), and so is the unique
	# package's (go1.23 and go1.24 start it there too; its goroutine allocates while the benchmark runs)
	pools=0
	if [ "$tiny" -gt 0 ] && [ -f "$rt/mgc.go" ]; then
		sed -e 's/^\([[:space:]]*if poolcleanup != nil\) {$/\1 \&\& !gomatrixKeepPools {/' \
			-e 's/^\([[:space:]]*if uniqueMapCleanup != nil\) {$/\1 \&\& !gomatrixKeepPools {/' "$rt/mgc.go" > "$ov/mgc.go" \
			|| return 1
		pools=$(grep -c 'poolcleanup != nil && !gomatrixKeepPools {$' "$ov/mgc.go")
	fi
	if [ "$tiny" -gt 0 ] && [ "$pools" = 1 ]; then
		replace="$replace,\"$rt/mgc.go\":\"$ov/mgc.go\",\"$rt/gomatrix_runtime.go\":\"$root/hook/gomatrix_runtime.go\""
		# testing reaches the runtime's switch by name
		printf 'package testing\n\nimport _ "unsafe"\n\n//go:linkname gomatrixKeepPools runtime.gomatrixKeepPools\nvar gomatrixKeepPools bool\n' \
			> "$ov/gomatrix_pools.go"
		echo "tiny allocator: $tiny places switchable; sync.Pool cleanup held off during the hook's collections"
	else
		replace=$testing_only
		printf 'package testing\n\nvar gomatrixKeepPools bool\n' > "$ov/gomatrix_pools.go"
		echo "runtime: not patchable in this toolchain (tiny objects stay unprofiled; the hook's collections empty sync.Pools)"
	fi
	replace="$replace,\"$goroot/src/testing/gomatrix_pools.go\":\"$ov/gomatrix_pools.go\""
	printf '{"Replace":{%s}}\n' "$replace" > "$ov/overlay.json"
	echo "overlay: $ov/overlay.json"
}

# go test -c flags: the overlay when the hook went in (ROOT/hooked).
hook_flags() {
	if [ -f "$root/hooked" ]; then
		echo "-overlay=$root/overlay/overlay.json"
	fi
}

# One compile gives both the escape diagnostics (over _test.go files too) and the
# test binary; -m changes no generated code. -m=2 adds the reason for each heap
# allocation ("too large for stack", "non-constant size"). vet is not run: its findings are not the case's.
compile() {
	# hook_flags is deliberately unquoted: empty, or one word.
	cd "$work" && go test -c -vet=off $(hook_flags) -o "$root/case.test" -gcflags=-m=2 .
}

# The hook must never cost the cell: when the build with it fails, the case is compiled again without it
# (hook-compile.txt keeps the first compile's output); a case that does not compile fails the second time too.
hook_failed() {
	[ -f "$root/hooked" ] || return 1
	cp "$out/$1" "$out/hook-compile.txt"
	rm -f "$root/hooked"
}

# Which lines the benchmarks run: a build with coverage counters of its own (-cover changes the code, so it
# is never the measured binary), every benchmark for 100 ops, the go coverprofile in cover.txt. Not fatal.
cover_compile() {
	cd "$work" && go test -c -vet=off -cover -covermode=set -o "$root/case.cover.test" .
}

cover_run() {
	# GOMATRIX_EXEC is deliberately unquoted: empty, or one command word.
	cd "$work" && ${GOMATRIX_EXEC:-} "$root/case.cover.test" -test.run '^$' -test.bench . -test.benchtime 100x \
		-test.coverprofile "$out/cover.txt"
}

cover_compile_packages() {
	while IFS='	' read -r n path dir; do
		echo "gomatrix-package: $path"
		(cd "$work" && go test -c -vet=off -cover -covermode=set -coverpkg=./... -o "$root/pkg$n.cover.test" "$path") \
			2>&1 || return 1
	done < "$root/packages.list"
}

cover_package() {
	[ -x "$root/pkg$1.cover.test" ] || return 0
	# GOMATRIX_EXEC is deliberately unquoted: empty, or one command word.
	(cd "$3" && ${GOMATRIX_EXEC:-} "$root/pkg$1.cover.test" -test.run '^$' -test.bench "${GOMATRIX_BENCH:-.}" \
		-test.benchtime 100x -test.coverprofile "$out/cover-$1.txt") 2>&1
	rc=$?
	[ -f "$out/cover-$1.txt" ] && cat "$out/cover-$1.txt" >> "$out/cover.txt" && rm -f "$out/cover-$1.txt"
	return "$rc"
}

bench() {
	# GOMATRIX_EXEC is deliberately unquoted: empty, or one command word.
	cd "$work" && ${GOMATRIX_EXEC:-} "$root/case.test" -test.run '^$' -test.bench . -test.benchmem \
		-test.count "$count" -test.benchtime "$benchtime"
}

# hook_run MODE DIR BINARY BENCH: one hooked run of a test binary in DIR, every benchmark once; the hook
# appends to ROOT/out/MODE.txt, stdout is go test's own output of the same run.
# GOMAXPROCS=1: with more Ps the runtime's background GC work adds its own allocations to the count
# (100 ops of a 10 MiB array counted 106-111 at GOMAXPROCS=2, 100 or 101 at 1).
hook_run() {
	# GOMATRIX_EXEC is deliberately unquoted: empty, or one command word.
	(cd "$2" && GOMAXPROCS=1 GOMATRIX_HOOK=$1 GOMATRIX_HOOK_OUT="$out/$1.txt" GOMATRIX_HOOK_ITERS="$out/exact.txt" \
		GOMATRIX_HOOK_ROOT="$work/" ${GOMATRIX_EXEC:-} "$3" -test.run '^$' -test.bench "$4" -test.benchmem \
		-test.count 1 -test.benchtime "$benchtime")
}

# Exact totals of every benchmark (exact.txt); exact-bench.txt is go test's truncated output of that run.
exact() {
	hook_run exact "$work" "$root/case.test" .
}

# Where each benchmark allocates (sites.txt): every allocation profiled, over the timed ops only, as many
# ops as the exact run timed (up to a limit, hook.go), in a process of its own so that profiling cannot
# touch the exact counts.
sites() {
	GOMATRIX_NO_TINY=1 hook_run sites "$work" "$root/case.test" .
}

# Module cases: ROOT/packages.list holds "index<TAB>import path<TAB>directory" of each package to build.
# GOMATRIX_PACKAGES: go list patterns, one per line (a pattern may hold spaces).
list_packages() {
	set --
	while IFS= read -r pattern; do
		[ -n "$pattern" ] && set -- "$@" "$pattern"
	done <<EOF
${GOMATRIX_PACKAGES:-./...}
EOF
	(cd "$work" && go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{"\t"}}{{.Dir}}{{end}}' \
		"$@") > "$root/packages.tmp" || return 1
	n=0
	: > "$root/packages.list"
	while IFS='	' read -r path dir; do
		[ -n "$path" ] || continue
		n=$((n + 1))
		printf '%s\t%s\t%s\n' "$n" "$path" "$dir" >> "$root/packages.list"
	done < "$root/packages.tmp"
	rm -f "$root/packages.tmp"
	cat "$root/packages.list"
	[ "$n" -gt 0 ] || { echo "no package with test files matches: $*"; return 1; }
}

# Every package's test binary; -m=2 for that package (and its external test package) only.
compile_packages() {
	while IFS='	' read -r n path dir; do
		echo "gomatrix-package: $path"
		# hook_flags is deliberately unquoted: empty, or one word.
		(cd "$work" && go test -c -vet=off $(hook_flags) -o "$root/pkg$n.test" "-gcflags=$path=-m=2" "$path") 2>&1 \
			|| return 1
	done < "$root/packages.list"
}

# A package whose coverage build fails only loses its coverage.
compile_cover_packages_quietly() {
	cover_compile_packages || { rm -f "$root"/pkg*.cover.test; return 1; }
}

# each_package COMMAND...: COMMAND... N PATH DIR for every package whose test binary exists; fails if one did.
each_package() {
	failed=0
	while IFS='	' read -r n path dir; do
		[ -x "$root/pkg$n.test" ] || continue
		"$@" "$n" "$path" "$dir" || failed=1
	done < "$root/packages.list"
	return "$failed"
}

bench_package() {
	# GOMATRIX_EXEC is deliberately unquoted: empty, or one command word.
	(cd "$3" && ${GOMATRIX_EXEC:-} "$root/pkg$1.test" -test.run '^$' -test.bench "${GOMATRIX_BENCH:-.}" \
		-test.benchmem -test.count "$count" -test.benchtime "$benchtime") 2>&1
}

# hook_package MODE N PATH DIR: the package's section of exact.txt or sites.txt, then its run.
hook_package() {
	echo "gomatrix-package: $3" >> "$out/$1.txt"
	hook_run "$1" "$4" "$root/pkg$2.test" "${GOMATRIX_BENCH:-.}" 2>&1
}

finish() {
	echo "$1" > "$out/exit"
	# Only the build phase hands its binary on; otherwise it would be copied out of the container for nothing.
	[ "${phase:-all}" = build ] || rm -f "$root/case.test" "$root/case.cover.test" "$root"/pkg*.test
	exit "$1"
}

# After the compile: the hook's steps when it went in (ROOT/hooked), then the timed samples unless
# GOMATRIX_TIMINGS=0 (without the hook they are the only figures, so they run then too). A benchmark that
# failed in the exact run (go test said FAIL, or the binary crashed) fails the cell as the timed run would
# (30), once the other steps have measured what did run.
run_steps() {
	exact_ok=1
	if [ -f "$root/hooked" ]; then
		# Not fatal at once: the sites and coverage runs measure the benchmarks that do run.
		: > "$out/exact.txt"
		: > "$out/sites.txt"
		if [ -n "$module" ]; then
			step exact exact-bench.txt each_package hook_package exact || exact_ok=0
			GOMATRIX_NO_TINY=1 step sites sites-bench.txt each_package hook_package sites
		else
			step exact exact-bench.txt exact || exact_ok=0
			step sites sites-bench.txt sites
		fi
	fi
	if [ -n "$module" ]; then
		: > "$out/cover.txt"
		step cover cover-bench.txt each_package cover_package
	elif [ -x "$root/case.cover.test" ]; then
		step cover cover-bench.txt cover_run
	fi
	if [ "${GOMATRIX_TIMINGS:-1}" = 1 ] || [ ! -f "$root/hooked" ]; then
		if [ -n "$module" ]; then
			step bench bench.txt each_package bench_package || finish 30
		else
			step bench bench.txt bench || finish 30
		fi
	fi
	[ "$exact_ok" = 1 ] || finish 30
}

# GOMATRIX_PHASE: all (default); build: compile only (the native image cross-compiling for
# GOMATRIX_GOARCH), leaving ROOT/case.test (a module: ROOT/pkg*.test and ROOT/packages.list) and, when the
# hook went in, out/exact-built; run: the target image's go version and go env, then the given binaries
# (ROOT/exact-built says whether they hold the hook).
phase=${GOMATRIX_PHASE:-all}
if [ "$phase" = build ]; then
	step build-version build-go-version.txt go version || finish 10
else
	step version go-version.txt go version || finish 10
	step env go-env.txt go env GOOS GOARCH GOVERSION || finish 10
fi
if [ "$phase" = run ]; then
	step prepare prepare.txt sh -c "cp -R '$root/case/.' '$work/' && chmod -R u+w '$work'" || finish 20
	[ -f "$root/exact-built" ] && : > "$root/hooked"
else
	if [ -n "$module" ]; then
		step prepare prepare.txt sh -c "cp -R '$root/case/.' '$work/' && chmod -R u+w '$work'" || finish 20
		step list packages.txt list_packages || finish 20
	else
		step prepare prepare.txt prepare || finish 20
	fi
	step hook hook.txt make_hook && : > "$root/hooked"
	if [ -n "$module" ]; then
		if ! step compile escape.txt compile_packages; then
			hook_failed escape.txt || finish 20
			step compile escape.txt compile_packages || { rm -f "$out/hook-compile.txt"; finish 20; }
		fi
	elif ! step compile escape.txt compile; then
		hook_failed escape.txt || finish 20
		# failing without the hook too: the case's own failure, not the hook's
		step compile escape.txt compile || { rm -f "$out/hook-compile.txt"; finish 20; }
	fi
	if [ "${GOMATRIX_COVER:-1}" != 1 ]; then
		:  # no coverage build (full emulation): lines run come from the source scan alone
	elif [ -n "$module" ]; then
		step cover-compile cover-compile.txt compile_cover_packages_quietly
	else
		step cover-compile cover-compile.txt cover_compile || rm -f "$root/case.cover.test"
	fi
	if [ "$phase" = build ]; then
		[ -f "$root/hooked" ] && : > "$out/exact-built"
		finish 0
	fi
fi
if [ -n "$module" ] || [ -x "$root/case.test" ]; then
	run_steps
fi
finish 0
