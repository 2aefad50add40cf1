#!/usr/bin/env bash
# Installs the pinned ccusage (the npm tool people use to read Claude Code's transcripts
# for tokens and cost) into a project-local npm prefix beside the CLI's (.ci/npm/ccusage:
# git ignores .ci/npm/, and a prefix of its own leaves the CLI's lock file alone), for
# the peer check in tests/test_metrics_ccusage_e2e.py (it looks for
# .ci/npm/ccusage/node_modules/.bin/ccusage). The tests run it with --offline: its
# bundled price table, no network. Idempotent: does nothing when that version already
# runs. Without npm it says so and exits 0; that test then skips.
#
# 20.0.24, not the newest 20.0.26: ccusage 20 is a native binary in an optional
# dependency per platform, and 20.0.26 has no @ccusage/ccusage-linux-x64 on the registry.
set -euo pipefail
VERSION="20.0.24"
PACKAGE="ccusage"
cd "$(dirname "$0")/.."
PREFIX=".ci/npm/ccusage"
CCUSAGE="$PREFIX/node_modules/.bin/ccusage"

installed() {
    # The command itself, not package.json: its native binary is an optional
    # dependency, and a failed install of it leaves a launcher that cannot run.
    [ -x "$CCUSAGE" ] && [ "$("$CCUSAGE" --version 2>/dev/null)" = "ccusage $VERSION" ]
}

if installed; then
    echo "install-ccusage: $PACKAGE@$VERSION already installed in $PREFIX"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-ccusage: npm not found; not installing $PACKAGE@$VERSION (its e2e test will skip)"
    exit 0
fi

echo "install-ccusage: installing $PACKAGE@$VERSION into $PREFIX"
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --save-exact "$PACKAGE@$VERSION"
if ! installed; then
    echo "install-ccusage: $CCUSAGE does not report version $VERSION after npm install" >&2
    exit 1
fi
echo "install-ccusage: $("$CCUSAGE" --version)"
