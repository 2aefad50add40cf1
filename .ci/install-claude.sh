#!/usr/bin/env bash
# Installs the pinned Claude Code CLI into a project-local npm prefix (.ci/npm), for the
# end-to-end tests in tests/test_claude_e2e_harness.py (tests/e2e/claude_cli.py looks for
# .ci/npm/node_modules/.bin/claude). Idempotent: does nothing when that version already
# runs. Without npm it says so and exits 0; those tests then skip.
set -euo pipefail
VERSION="2.1.330"
PACKAGE="@anthropic-ai/claude-code"
cd "$(dirname "$0")/.."
PREFIX=".ci/npm"
CLAUDE="$PREFIX/node_modules/.bin/claude"

installed() {
    # The binary itself, not package.json: a failed postinstall leaves a stub behind.
    [ -x "$CLAUDE" ] && [ "$("$CLAUDE" --version 2>/dev/null)" = "$VERSION (Claude Code)" ]
}

if installed; then
    echo "install-claude: $PACKAGE@$VERSION already installed in $PREFIX"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-claude: npm not found; not installing $PACKAGE@$VERSION (its e2e tests will skip)"
    exit 0
fi

echo "install-claude: installing $PACKAGE@$VERSION into $PREFIX"
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund "$PACKAGE@$VERSION"
if ! installed; then
    echo "install-claude: $CLAUDE does not report version $VERSION after npm install" >&2
    exit 1
fi
echo "install-claude: $("$CLAUDE" --version)"
