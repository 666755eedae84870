#!/usr/bin/env bash
# Build callhook for installing, into DIR: a copy of this source tree (no node_modules/,
# dist/ or .git), one `npm ci`, the build, then the dev dependencies pruned (so the native
# module is compiled once), and the sources, tests and benchmarks removed. The source tree
# is only read. Used by scripts/install.sh and scripts/build-deb.sh.
#
#   scripts/stage.sh DIR
set -euo pipefail
stage="${1:?usage: scripts/stage.sh DIR}"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$stage"
chmod 0755 "$stage" # the service user must read the code
(cd "$src" && tar --exclude=./node_modules --exclude=./dist --exclude=./.git -cf - .) | tar -C "$stage" -xf -
(cd "$stage" && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund)
rm -rf "$stage/dist/test" "$stage/dist/bench" "$stage/src" "$stage/test" "$stage/bench" "$stage/tsconfig.json" "$stage/.ci"
chmod 0755 "$stage/dist/src/cli.js"
