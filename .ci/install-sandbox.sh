#!/usr/bin/env bash
# Installs what Claude Code's sandbox needs on Linux (bubblewrap and socat), for the
# sandbox test in tests/test_claude_e2e_roles.py, and tmux, which `up` runs the agents in
# (tests/test_tmux*.py, tests/test_launcher*.py, tests/test_up_e2e*.py). Idempotent: does
# nothing when all three are there. It installs with apt-get only when running as root (running `apt-get update`
# first only if the plain install fails); otherwise, or when the install fails, it says
# so and exits 0 — that test then skips.
set -uo pipefail

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-sandbox: bubblewrap, socat and tmux already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-sandbox: apt-get not found; not installing ${missing[*]} (the sandbox and tmux tests will skip)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-sandbox: not root; not installing ${missing[*]} (the sandbox and tmux tests will skip)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-sandbox: installing ${missing[*]}"
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "install-sandbox: install failed; running apt-get update and trying again"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }; then
        echo "install-sandbox: could not install ${missing[*]} (the sandbox and tmux tests will skip)"
        exit 0
    fi
fi
echo "install-sandbox: bwrap $(command -v bwrap || echo missing), socat $(command -v socat || echo missing), tmux $(command -v tmux || echo missing)"
