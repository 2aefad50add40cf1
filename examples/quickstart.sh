#!/usr/bin/env bash
# The Quick start's main job: a scratch repository, one feature with an overseer and
# three implementors in their own worktrees, commits that carry task ids, status synced
# from them by the git hooks, a conflict found before anyone rebases, and the state.
# Embedded SQLite store only (no server). Pass a directory to keep the result.
set -euo pipefail

co=${CLAUDE_ORCHESTRATOR:-claude-orchestrator}
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/claude-orchestrator-demo.XXXXXX")}
mkdir -p "$work/repo" && cd "$work/repo"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
spec=003-reading-goals
step() { printf '\n$ %s\n' "$*" >&2; "$@"; }

git init -q -b main .
printf 'class Goal:\n    pass\n' > models.py && git add models.py && git commit -q -m "initial"

step "$co" init                                  # orchestrator.yaml + the event store
step "$co" init-feature $spec --worktrees        # branches, worktrees, state files
step "$co" hooks install                         # sync-status after every commit
wt="$work/repo-worktrees/$spec"

# The overseer commits the feature's task list (spec-kit format).
cd "$wt/overseer"
mkdir -p specs/$spec
cat > specs/$spec/tasks.md <<'TASKS'
# Tasks: Reading goals

- [ ] T001 [P] [US1] Goal model in models.py
- [ ] T002 [US1] Goals API in api.py
- [ ] T003 [US2] Goals page
TASKS
git add specs && git commit -q -m "tasks for $spec"

# Implementors rebase onto it and work; every commit is synced by the hook.
for area in data api ui; do git -C "$wt/impl-$area" rebase -q feature/$spec/overseer; done
cd "$wt/impl-data"
printf 'class Goal:\n    target: int\n' > models.py && git commit -q -am "T001: goal model"
git commit -q --allow-empty -m "T001 done"
cd "$wt/impl-api"
printf 'class Goal:\n    pages: int\n' > models.py && git commit -q -am "T002: goals API needs pages"
cd "$wt/impl-ui"
git commit -q --allow-empty -m "blocked T003: waiting for the goals API"

# Before rebasing, the api implementor checks for conflicts (exit 1: there is one).
cd "$wt/impl-api"
step "$co" check-conflicts || true
step "$co" detect-conflicts || true              # the cron job: records it, warns in state files

# The overseer syncs: tasks.md gets its checkboxes from the store.
cd "$wt/overseer"
step "$co" sync-status
step git diff --stat
step "$co" events status $spec
step "$co" events recent 8
echo
echo "Worktrees:   $wt"
echo "State file:  $wt/impl-api/state/impl-api.md"
echo "Event store: $("$co" events path)"
