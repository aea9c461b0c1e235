#!/usr/bin/env bash
# Merge the shards into a new run under published/ (a checkout of the reports branch, so that the
# report says what changed since the previous night and index.md lists every night), pack the raw
# outputs into one archive, and combine the shards' result caches into $COMBINED_CACHE.
set -euo pipefail
published=${PUBLISHED:-published}
shards=${SHARDS:-shards}
report=$(gomatrix merge "$shards/*" --out "$published" | sed -n 's/^gomatrix: report //p' | tail -n 1)
run=$(dirname "$report")
if [ -d "$run/raw" ]; then
  tar -C "$run" -cJf "$run/raw.tar.xz" raw
  rm -rf "$run/raw"
fi
echo "nightly: $run ($(du -sb "$run" | cut -f1) bytes, raw outputs in raw.tar.xz)"
if [ -n "${COMBINED_CACHE:-}" ] && [ -n "${SHARD_CACHES:-}" ]; then
  mkdir -p "$COMBINED_CACHE"
  for cache in $SHARD_CACHES; do
    [ -d "$cache" ] && cp -a --no-clobber "$cache/." "$COMBINED_CACHE/"
  done
fi
