#!/usr/bin/env bash
# Commit published/ (the reports branch with the new run) and push it to $REMOTE's $BRANCH.
set -euo pipefail
cd "${PUBLISHED:-published}"
if [ ! -d .git ]; then  # the first night: the branch starts here
  git init -q
  git checkout -q -b "${BRANCH:-reports}"
fi
git add -A
if git diff --cached --quiet; then
  echo "nothing to publish"
  exit 0
fi
git -c user.name="gomatrix nightly" -c user.email="gomatrix-nightly@users.noreply.github.com" \
  commit -q -m "nightly report $(date -u +%Y-%m-%d)"
git push -q "${REMOTE:-origin}" "HEAD:${BRANCH:-reports}"
