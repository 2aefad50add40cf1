#!/usr/bin/env bash
# Installs PostgreSQL's server binaries from the OS packages (Debian's postgresql), for the
# tests of the postgres store; tests/pgserver.py then runs a throwaway cluster of them.
# Idempotent: does nothing when initdb and postgres are there. It installs with apt-get
# only when running as root (running `apt-get update` first only if the plain install
# fails); otherwise, or when the install fails, it says so and exits 0 -- the tests that
# need a server then skip, saying why (CI runs as root, so there they run).
set -uo pipefail

have() {
    command -v "$1" >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null
}
if have initdb && have postgres; then
    echo "install-postgres: PostgreSQL already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "install-postgres: not root or no apt-get; not installing postgresql (its tests will skip)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-postgres: installing postgresql"
if ! apt-get install -y -q --no-install-recommends postgresql; then
    echo "install-postgres: install failed; running apt-get update and trying again"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends postgresql; }; then
        echo "install-postgres: could not install postgresql (its tests will skip)"
        exit 0
    fi
fi
echo "install-postgres: $(compgen -G '/usr/lib/postgresql/*/bin/postgres' | tail -1)"
