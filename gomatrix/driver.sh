#!/bin/sh
# gomatrix in-cell driver. POSIX sh only: golang images ship no Python, and the
# host runner runs this same file, so both runners take identical steps.
#
# Usage: driver.sh ROOT [ROOT...]   (several cells run one after the other)
#   ROOT/case      the case's Go files (read only)
#   ROOT/cell.env  optional: sourced first (per-cell settings below)
#   ROOT/out       raw outputs written here, steps.tsv (name, exit, start, end) and exit (the code)
# Environment: GOMATRIX_BENCHTIME, GOMATRIX_COUNT, GOCACHE (optional);
#   GOMATRIX_GOARCH: compile for this GOARCH (cross-compilation by the native toolchain);
#   GOMATRIX_EXEC: a command that runs the test binary (e.g. qemu-aarch64-static without binfmt).
# Exit (per cell, in ROOT/out/exit; the script exits with the last one):
#   0 all steps ran; 10 go missing; 20 case did not compile; 30 benchmarks failed.
set -u
[ $# -ge 1 ] || { echo "usage: driver.sh ROOT [ROOT...]" >&2; exit 2; }
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
GOFLAGS=-mod=mod
GO111MODULE=on
CGO_ENABLED=0
GOCACHE=${GOCACHE:-$root/gocache}
export GOTOOLCHAIN GOPROXY GOFLAGS GO111MODULE CGO_ENABLED GOCACHE
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

bench() {
	# GOMATRIX_EXEC is deliberately unquoted: empty, or one command word.
	cd "$work" && ${GOMATRIX_EXEC:-} "$root/case.test" -test.run '^$' -test.bench . -test.benchmem \
		-test.count "$count" -test.benchtime "$benchtime"
}

finish() {
	echo "$1" > "$out/exit"
	exit "$1"
}

step version go-version.txt go version || finish 10
step env go-env.txt go env GOOS GOARCH GOVERSION || finish 10
step prepare prepare.txt prepare || finish 20
step compile escape.txt compile || finish 20
if [ -x "$root/case.test" ]; then
	step bench bench.txt bench || finish 30
fi
finish 0
