#!/usr/bin/env bash
# One shard of the nightly: the cells of shard $SHARD of $TOTAL of the plan (plan.json), into
# shard-out/. The result cache ($GOMATRIX_CACHE/results) was restored before and is saved after.
# Run by .github/workflows/nightly.yml and by .ci/nightly/rehearse.py, the same way.
set -euo pipefail
: "${SHARD:?}" "${TOTAL:?}"
# GOMATRIX_EXTRA: more matrix options (the rehearsal picks a small matrix); split on purpose.
# shellcheck disable=SC2086
gomatrix matrix --runner docker --plan "${PLAN:-plan.json}" --arches "${ARCHES:-amd64,arm64}" \
  --accept-failures --shard "$SHARD/$TOTAL" --out "${OUT:-shard-out}" ${GOMATRIX_EXTRA:-}
