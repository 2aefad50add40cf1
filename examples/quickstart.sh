#!/usr/bin/env bash
# The Quick start's main job, the whole loop: a scratch repository, one feature with an
# overseer and three implementors in their own worktrees, commits that carry task ids,
# status synced from them by the git hooks, a conflict found before anyone rebases,
# tests run and recorded, a PR opened and merged locally, and the CI workflows and
# Claude Code permission files generated. Embedded SQLite store only (no server).
# Pass a directory to keep the result.
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
"$co" config set tests.implementor.unit 'python3 -m unittest discover -s tests -q'
"$co" config set tests.implementor.lint 'python3 -m compileall -q .'
git add orchestrator.yaml && git commit -q -m "claude-orchestrator config"
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
mkdir -p tests && printf 'import unittest\n\nimport models\n\n\nclass T(unittest.TestCase):\n    def test_goal(self):\n        self.assertTrue(models.Goal)\n' > tests/test_goal.py
git add tests && git commit -q -m "T001 done"
cd "$wt/impl-api"
printf 'class Goal:\n    pages: int\n' > models.py && git commit -q -am "T002: goals API needs pages"
cd "$wt/impl-ui"
git commit -q --allow-empty -m "blocked T003: waiting for the goals API"

# Before rebasing, the api implementor checks for conflicts (exit 1: there is one).
cd "$wt/impl-api"
step "$co" check-conflicts || true
step "$co" detect-conflicts || true              # the cron job: records it, warns in state files

# The data implementor runs its tests (recorded) and opens a PR to the overseer branch.
cd "$wt/impl-data"
step "$co" run-tests
step "$co" open-pr --title "Goal model"

# The overseer merges it (a real git merge; the api branch now conflicts with the
# overseer branch), syncs tasks.md from the store, and generates CI and permissions.
cd "$wt/overseer"
step "$co" merge-pr 1
step "$co" sync-status
step git diff --stat
step "$co" generate
git add -A && git commit -q -m "tasks.md from the store; generated CI and permission files"
step "$co" generate --check
step "$co" events status $spec
step "$co" events recent 8
echo
echo "Worktrees:   $wt"
echo "State file:  $wt/impl-api/state/impl-api.md"
echo "Event store: $("$co" events path)"
