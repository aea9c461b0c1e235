#!/bin/sh
# gomatrix in-cell driver. POSIX sh only: golang images ship no Python, and the
# host runner runs this same file, so both runners take identical steps.
#
# Usage: driver.sh ROOT [ROOT...]   (several cells run one after the other)
#   ROOT/case      the case's Go files (read only)
#   ROOT/cell.env  optional: sourced first (per-cell settings below)
#   ROOT/exact     optional: generated gomatrix_exact_*_test.go files, added to the working copy (the
#                  case is never modified); they print exact allocation totals (step "exact") and where
#                  each benchmark allocates (step "sites")
#   ROOT/out       raw outputs written here, steps.tsv (name, exit, start, end) and exit (the code)
#   ROOT/case      a module case (GOMATRIX_MODULE=1): the module's root (go.mod); every package that
#                  GOMATRIX_PACKAGES (go list patterns) matches and that has test files is compiled
#                  into its own test binary with -gcflags=<package>=-m=2 (that package only, its
#                  dependencies plain; escape.txt holds one "gomatrix-package: PATH" section each, paths
#                  relative to the module root), and its benchmarks matching GOMATRIX_BENCH run in its
#                  directory (bench.txt: the binaries' outputs one after the other, each with its pkg: line).
#                  Dependencies: GOMATRIX_GOFLAGS=-mod=vendor, or GOMATRIX_MODCACHE (a filled module
#                  cache, read-only) with GOFLAGS=-mod=mod; GOPROXY stays off. No exact-count files.
# Environment: GOMATRIX_BENCHTIME, GOMATRIX_COUNT, GOCACHE (optional);
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

# One compile gives both the escape diagnostics (over _test.go files too) and the
# test binary; -m changes no generated code. -m=2 adds the reason for each heap
# allocation ("too large for stack", "non-constant size").
compile() {
	cd "$work" && go test -c -o "$root/case.test" -gcflags=-m=2 .
}

add_exact() {
	[ -d "$root/exact" ] || return 0
	for f in "$root"/exact/gomatrix_exact_*_test.go; do
		[ -f "$f" ] && cp "$f" "$work/"
	done
	return 0
}

# The exact-count files must never cost the cell: if the compiler rejects them (e.g. a benchmark the
# scan found but the build excludes), the case is compiled again without them.
drop_exact() {
	grep -q '^[./]*gomatrix_exact_[^:]*:[0-9]' "$out/escape.txt" 2> /dev/null || return 1
	cp "$out/escape.txt" "$out/exact-compile.txt"
	rm -f "$work"/gomatrix_exact_*_test.go
}

bench() {
	# GOMATRIX_EXEC is deliberately unquoted: empty, or one command word.
	cd "$work" && ${GOMATRIX_EXEC:-} "$root/case.test" -test.run '^$' -test.bench . -test.benchmem \
		-test.count "$count" -test.benchtime "$benchtime"
}

# testing.Benchmark on every benchmark, once, with the same benchtime: exact totals, not truncated.
# GOMAXPROCS=1: with more Ps the runtime's background GC work adds its own allocations to the count
# (100 ops of a 10 MiB array counted 106-111 at GOMAXPROCS=2, 100 or 101 at 1).
exact() {
	cd "$work" && GOMAXPROCS=1 ${GOMATRIX_EXEC:-} "$root/case.test" -test.run '^TestGomatrixExact[0-9]+$' \
		-test.benchtime "$benchtime"
}

# The allocation profile of every benchmark (every allocation recorded, per source line), in its own
# process so that profiling cannot touch the exact counts above.
sites() {
	cd "$work" && GOMAXPROCS=1 ${GOMATRIX_EXEC:-} "$root/case.test" -test.run '^TestGomatrixSites[0-9]+$' \
		-test.benchtime "$benchtime"
}

# Module cases: ROOT/packages.list holds "index<TAB>import path<TAB>directory" of each package to build.
list_packages() {
	# GOMATRIX_PACKAGES is deliberately unquoted: space-separated patterns.
	(cd "$work" && go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{"\t"}}{{.Dir}}{{end}}' \
		$GOMATRIX_PACKAGES) > "$root/packages.tmp" || return 1
	n=0
	: > "$root/packages.list"
	while IFS='	' read -r path dir; do
		[ -n "$path" ] || continue
		n=$((n + 1))
		printf '%s\t%s\t%s\n' "$n" "$path" "$dir" >> "$root/packages.list"
	done < "$root/packages.tmp"
	rm -f "$root/packages.tmp"
	cat "$root/packages.list"
	[ "$n" -gt 0 ] || { echo "no package with test files matches: $GOMATRIX_PACKAGES"; return 1; }
}

# Every package's test binary; -m=2 for that package (and its external test package) only.
compile_packages() {
	while IFS='	' read -r n path dir; do
		echo "gomatrix-package: $path"
		(cd "$work" && go test -c -o "$root/pkg$n.test" "-gcflags=$path=-m=2" "$path") 2>&1 || return 1
	done < "$root/packages.list"
}

bench_packages() {
	failed=0
	while IFS='	' read -r n path dir; do
		[ -x "$root/pkg$n.test" ] || continue
		# GOMATRIX_EXEC is deliberately unquoted: empty, or one command word.
		(cd "$dir" && ${GOMATRIX_EXEC:-} "$root/pkg$n.test" -test.run '^$' -test.bench "${GOMATRIX_BENCH:-.}" \
			-test.benchmem -test.count "$count" -test.benchtime "$benchtime") 2>&1 || failed=1
	done < "$root/packages.list"
	return "$failed"
}

finish() {
	echo "$1" > "$out/exit"
	# Only the build phase hands its binary on; otherwise it would be copied out of the container for nothing.
	[ "${phase:-all}" = build ] || rm -f "$root/case.test" "$root"/pkg*.test
	exit "$1"
}

# GOMATRIX_PHASE: all (default); build: compile only (the native image cross-compiling for
# GOMATRIX_GOARCH), leaving ROOT/case.test and, if the exact-count files went in, out/exact-built;
# run: the target image's go version and go env, then the given ROOT/case.test (ROOT/exact-built
# says whether it holds the exact-count test).
phase=${GOMATRIX_PHASE:-all}
if [ -n "$module" ]; then
	if [ "$phase" = build ]; then
		step build-version build-go-version.txt go version || finish 10
	else
		step version go-version.txt go version || finish 10
		step env go-env.txt go env GOOS GOARCH GOVERSION || finish 10
	fi
	step prepare prepare.txt sh -c "cp -R '$root/case/.' '$work/' && chmod -R u+w '$work'" || finish 20
	if [ "$phase" != run ]; then
		step list packages.txt list_packages || finish 20
		step compile escape.txt compile_packages || finish 20
		[ "$phase" = build ] && finish 0
	fi
	step bench bench.txt bench_packages || finish 30
	finish 0
fi
if [ "$phase" = build ]; then
	step build-version build-go-version.txt go version || finish 10
else
	step version go-version.txt go version || finish 10
	step env go-env.txt go env GOOS GOARCH GOVERSION || finish 10
fi
if [ "$phase" = run ]; then
	step prepare prepare.txt sh -c "cp -R '$root/case/.' '$work/' && chmod -R u+w '$work'" || finish 20
else
	step prepare prepare.txt prepare || finish 20
	add_exact
	if ! step compile escape.txt compile; then
		drop_exact || finish 20
		step compile escape.txt compile || finish 20
	fi
	if ls "$work"/gomatrix_exact_*_test.go > /dev/null 2>&1; then
		: > "$root/exact-built"
	fi
fi
if [ "$phase" = build ]; then
	[ -f "$root/exact-built" ] && : > "$out/exact-built"
	finish 0
fi
if [ -x "$root/case.test" ]; then
	step bench bench.txt bench || finish 30
	# Not fatal: without it the cell keeps go test's truncated allocs/op.
	if [ -f "$root/exact-built" ]; then
		step exact exact.txt exact
		step sites sites.txt sites
	fi
fi
finish 0
