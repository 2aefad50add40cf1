#!/usr/bin/env bash
# The Quick start's main job: set up a scratch repository, register a feature, log what
# three agents do, and show the status and the state report. Uses the embedded SQLite
# store only (no server). Run from anywhere; pass a directory to keep the result.
set -euo pipefail

co=${CLAUDE_ORCHESTRATOR:-claude-orchestrator}
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/claude-orchestrator-demo.XXXXXX")}
mkdir -p "$work" && cd "$work"

git init -q -b main .
git -c user.name=demo -c user.email=demo@example.com commit -q --allow-empty -m "initial"

"$co" init                                     # orchestrator.yaml + the event store
"$co" events add-feature 003-reading-goals "Reading goals"
spec=003-reading-goals
"$co" events log-event $spec implementor-data task_started "reading_goals table" T001
"$co" events log-event $spec implementor-data task_completed "migrations done" T001 abc1234
"$co" events log-event $spec implementor-api task_started "goals endpoints" T002
"$co" events log-conflict $spec implementor-api '["src/models.py"]' warning
"$co" events block $spec implementor-ui dependency "needs the goals API" \
    --task T003 --blocked-by implementor-api
"$co" events record-test $spec implementor-data unit passed --passed 12 --commit abc1234

echo
"$co" events status $spec
echo
"$co" events recent 5
echo
"$co" events export $spec "$work/report.md"
echo "Event store: $("$co" events path)"
echo "Report:      $work/report.md"
