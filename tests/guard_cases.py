"""The guard's decision table: one tool call per row and what the guard must answer.

Context of every row (built for real by ``tests/test_guard_table.py``): spec
``003-reading-goals``; the implementor ``implementor-data`` works on
``feature/003-reading-goals/impl-data`` in its own worktree, its siblings are ``impl-api``
and ``impl-ui``; the overseer works on ``feature/003-reading-goals/overseer``; the
configuration is ``default_config()`` (implementor writes ``src/**``, ``tests/**``,
``state/impl-*.md``; test commands ``pytest -q`` and ``ruff check .``). Every implementor
branch holds work not merged into the overseer branch.

``input`` is the command line (Bash) or a path (file tools): relative to the worktree root
(or to ``cwd`` below it), or absolute with the placeholders ``{root}`` (the role's own
worktree), ``{other}`` (the ``impl-api`` implementor's worktree), ``{main}`` (the main
working tree) and ``{tmp}`` (a temporary directory outside the repository). Bash commands
may use the same placeholders. ``because`` is a substring the deny reason must contain;
``note`` says how an ambiguous point of the policy (/tmp/guard_spec.md) was read — always
the safer reading unless the policy says otherwise.
"""

from __future__ import annotations

from typing import NamedTuple

IMPL = "implementor"
OVER = "overseer"

SPEC = "003-reading-goals"
FEATURE = f"feature/{SPEC}"
OV = f"{FEATURE}/overseer"
DATA = f"{FEATURE}/impl-data"
API = f"{FEATURE}/impl-api"
UI = f"{FEATURE}/impl-ui"
OTHER_FEATURE = "feature/004-other/impl-data"

# Deny-reason substrings: the stable part of the wording the policy spells out.
MERGE = "may not merge"
UNCHECKED = "cannot check"
PULL = "pull"
CONFIG = "configuration"
PUSH = "may not push"
OUTSIDE = "your worktree"


class Case(NamedTuple):
    id: str
    role: str
    tool: str
    input: str
    allow: bool
    cwd: str = ""
    because: str = ""
    note: str = ""


def ok(
    slug: str, text: str, *, role: str = IMPL, tool: str = "Bash", cwd: str = "", note: str = ""
) -> Case:
    return Case(slug, role, tool, text, True, cwd, "", note)


def no(
    slug: str,
    text: str,
    because: str = "",
    *,
    role: str = IMPL,
    tool: str = "Bash",
    cwd: str = "",
    note: str = "",
) -> Case:
    return Case(slug, role, tool, text, False, cwd, because, note)


# Notes shared by several rows.
CD_OTHER = (
    "the policy limits `git -C` to the own worktree; `cd DIR && git ...` runs git in DIR "
    "just the same, so it is held to the same rule"
)
DYNAMIC_TARGET = "a write whose target is a variable cannot be checked: denied (fail closed)"
SUDO = "the policy says `sudo` -> deny without naming a role: applied to both"
INTERP = "inline interpreter code is unanalysable for implementors, even when harmless"

# Rows whose write lands outside every worktree but inside the directory holding them.
# They are only meaningful when that directory is not under /tmp or $TMPDIR (where writes
# are allowed); the test skips them when it cannot place the repository elsewhere.
NEEDS_BASE_OUTSIDE_TMP = frozenset(
    {
        "shell-cd-parent-write",
        "ov-shell-cd-parent-write",
        "ov-write-outside-root",
        "shell-home-gitconfig",
    }
)

CASES: list[Case] = [
    # ================================================================================
    # Implementor: ordinary work that must pass untouched
    # ================================================================================
    # -- git, read-only and local history ------------------------------------------------------
    ok("git-status", "git status"),
    ok("git-status-short-and-diff", "git status --short && git diff --stat"),
    ok("git-diff", "git diff"),
    ok("git-diff-pipe", "git diff | head -50"),
    ok("git-diff-range-main", "git diff main...HEAD"),
    ok("git-log", "git log --oneline -5"),
    ok("git-log-merges", "git log --merges --oneline"),
    ok("git-log-grep-merge", 'git log --grep="merge main"'),
    ok("git-show-file", "git show HEAD:src/a.py"),
    ok("git-merge-base", "git merge-base HEAD main", note="merge-base is not merge"),
    ok("git-grep-merge", "git grep -n merge"),
    ok("git-blame", "git blame src/a.py"),
    ok("git-add-all", "git add -A"),
    ok("git-commit-merge-word", 'git commit -m "T001: merge helpers"'),
    ok("git-commit-merge-word-sq", "git commit -m 'fix: handle merge of lists'"),
    ok("git-commit-git-merge-text", 'git commit -m "docs: never run git merge main"'),
    ok("git-commit-amend", "git commit --amend --no-edit"),
    ok("git-commit-msg-subst", 'git commit -m "$(cat /tmp/msg.txt)"'),
    ok("git-stash", "git stash"),
    ok("git-stash-push-msg", 'git stash push -m "before merge"'),
    ok("git-stash-pop", "git stash pop"),
    ok("git-restore-staged", "git restore --staged src/a.py"),
    ok("git-restore-source-main", "git restore --source main src/a.py"),
    ok("git-rm", "git rm src/old.py"),
    ok("git-mv", "git mv src/a.py src/b.py"),
    ok("git-cherry-pick", "git cherry-pick abc1234"),
    ok("git-revert", "git revert --no-edit HEAD"),
    ok("git-tag", 'git tag -a v0.1 -m "before merge"'),
    ok("git-reset-hard", "git reset --hard HEAD~1"),
    ok(
        "git-reset-to-overseer",
        f"git reset --hard origin/{OV}",
        note="reset moves only the own checked-out branch",
    ),
    ok(
        "git-apply",
        "git apply /tmp/fix.diff",
        note="the policy offers `git apply` as the allowed alternative to `patch`",
    ),
    ok("git-worktree-list", "git worktree list"),
    ok("git-symbolic-ref-read", "git symbolic-ref HEAD"),
    # -- git: branches -------------------------------------------------------------------------
    ok(
        "git-checkout-new-branch",
        f"git checkout -b {DATA}-spike",
        note="`checkout -b` only creates (git refuses an existing name), and the policy "
        "allows `checkout -b new-branch` without restricting the name",
    ),
    ok("git-switch-create", "git switch -c wip-data-cache"),
    ok("git-checkout-file", "git checkout -- src/a.py"),
    ok(
        "git-checkout-main-file",
        "git checkout main -- src/a.py",
        note="`checkout <tree> -- <path>` copies a file and does not switch branches",
    ),
    ok("git-checkout-own", f"git checkout {DATA}"),
    ok("git-branch-list", "git branch -a"),
    ok("git-branch-new", "git branch data-spike"),
    ok("git-branch-upstream", f"git branch -u origin/{DATA}"),
    ok("git-branch-delete-unprotected", "git branch -D data-spike"),
    # -- git: sync with the overseer branch ----------------------------------------------------
    ok("git-rebase-overseer", f"git rebase {OV}"),
    ok("git-rebase-origin-overseer", f"git rebase origin/{OV}"),
    ok("git-rebase-main", "git rebase main", note="the policy allows main as upstream"),
    ok("git-rebase-continue", "git rebase --continue"),
    ok("git-pull-rebase-overseer", f"git pull --rebase origin {OV}"),
    ok("git-pull-r", "git pull -r"),
    ok("git-pull-ff-only", f"git pull --ff-only origin {OV}"),
    ok("git-fetch-origin", "git fetch origin"),
    ok("git-fetch-all", "git fetch --all --prune"),
    ok("git-fetch-branch", "git fetch origin main", note="only FETCH_HEAD is written"),
    ok(
        "git-fetch-remote-tracking",
        "git fetch origin main:refs/remotes/origin/main",
        note="the destination is a remote-tracking ref, not a local branch",
    ),
    # -- git: push the own branch --------------------------------------------------------------
    ok("git-push-bare", "git push"),
    ok("git-push-own", f"git push origin {DATA}"),
    ok("git-push-u-head", "git push -u origin HEAD"),
    ok("git-push-head-own", f"git push origin HEAD:{DATA}"),
    ok("git-push-refs-heads-own", f"git push origin HEAD:refs/heads/{DATA}"),
    ok("git-push-force-with-lease-own", f"git push --force-with-lease origin {DATA}"),
    no(
        "git-push-force-with-lease-main",
        "git push --force-with-lease origin HEAD:main",
        because="may not push to main",
    ),
    no(
        "git-push-lease-then-overseer",
        f"git push --force-with-lease origin {OV}",
        because="may not push to",
    ),
    ok("git-push-force-own", f"git push --force origin HEAD:{DATA}"),
    ok("git-push-plus-own", f"git push origin +{DATA}"),
    ok(
        "git-push-main-into-own",
        f"git push origin main:{DATA}",
        note="only the destination matters: it is the own branch",
    ),
    ok("git-push-new-branch", "git push origin wip-data-cache"),
    ok("git-push-tags", "git push --tags origin", note="the policy: tags allowed"),
    # -- git: global options and configuration that stay allowed -------------------------------
    ok("git-C-subdir", "git -C src status"),
    ok("git-C-root", "git -C {root} log -1"),
    ok("git-no-pager-log", "git --no-pager log -3"),
    ok("git-c-color", "git -c color.ui=never diff"),
    ok(
        "git-c-alias-status",
        "git -c alias.st=status st",
        note="a non-! alias is expanded and the expansion (status) is allowed",
    ),
    ok("git-work-tree-self", "git --work-tree=. status"),
    ok("git-config-get", "git config --get user.name"),
    ok("git-config-list", "git config --list"),
    ok("git-config-l", "git config -l"),
    ok("git-config-read-one", "git config user.email"),
    # -- gh and the orchestrator ---------------------------------------------------------------
    ok("gh-pr-create", "gh pr create --title x --body y"),
    ok("gh-pr-create-merge-words", 'gh pr create --title "Merge helpers" --body "ready to merge"'),
    ok("gh-pr-view", "gh pr view 3"),
    ok("gh-pr-list", "gh pr list --state open"),
    ok("gh-pr-status", "gh pr status"),
    ok("gh-pr-diff", "gh pr diff 3"),
    ok("gh-pr-checks", "gh pr checks 3"),
    ok("gh-api-get-pull", "gh api repos/o/r/pulls/3"),
    ok(
        "gh-api-comment-merge-word",
        'gh api repos/o/r/issues/3/comments -f body="ready to merge"',
        note="no /merge endpoint and no mergePullRequest: an ordinary comment",
    ),
    ok("co-sync-status", "claude-orchestrator sync-status"),
    ok("co-open-pr", "claude-orchestrator open-pr"),
    ok("co-open-pr-title", 'claude-orchestrator open-pr --title "Data layer"'),
    # -- tests, lint, running files ------------------------------------------------------------
    ok("pytest", "pytest -q"),
    ok("pytest-file", "pytest -q tests/test_x.py"),
    ok("pytest-k-merge", "pytest -q -k merge"),
    ok("pytest-env", "ENV=1 pytest -q"),
    ok("pytest-timeout", "timeout 300 pytest -q"),
    ok("pytest-log-tmp", "pytest -q > {tmp}/run.log 2>&1"),
    ok("pytest-nohup-bg", "nohup pytest -q > /tmp/p.log 2>&1 &"),
    ok("pytest-module", "python3 -m pytest -q tests"),
    ok("ruff", "ruff check ."),
    ok("ruff-fix", "ruff check . --fix"),
    ok("python-file", "python3 src/tool.py", note="running a file is not inline code"),
    ok("sh-c-literal", "sh -c 'git status'"),
    ok("bash-c-pytest", 'bash -c "pytest -q"'),
    # -- reading and searching -----------------------------------------------------------------
    ok("ls", "ls -la"),
    ok("cat-grep", "cat src/a.py | grep x"),
    ok("subshell-ls", "(cd src && ls)"),
    ok("echo-merge-text", 'echo "git merge main"'),
    ok("grep-merge-text", 'grep -rn "git merge" src tests'),
    ok("cat-protected", "cat orchestrator.yaml state/overseer.md"),
    ok("sed-n-protected", "sed -n 1,5p orchestrator.yaml", note="sed without -i only reads"),
    ok("cp-protected-to-tmp", "cp orchestrator.yaml /tmp/o.yaml"),
    ok("stderr-devnull", "ls missing 2>/dev/null"),
    # -- shell writes inside the allowed paths -------------------------------------------------
    ok("shell-echo-src", "echo hi > src/out.txt"),
    ok("shell-append-tests", "echo x >> tests/data.txt"),
    ok("shell-echo-text-src", "echo 'git merge main' > src/notes.txt"),
    ok("shell-state-own", 'echo "- T001 done" >> state/impl-data.md'),
    ok("shell-mkdir-src", "mkdir -p src/pkg"),
    ok("shell-cp-src", "cp src/a.py src/b.py"),
    ok("shell-cp-t", "cp -t src/pkg src/a.py"),
    ok("shell-mv-src", "mv src/a.py src/b.py"),
    ok("shell-sed-i-src", "sed -i s/a/b/ src/a.py"),
    ok("shell-sed-i-bak-src", "sed -i.bak 's/a/b/' src/a.py"),
    ok("shell-touch-tests", "touch tests/test_new.py"),
    ok("shell-rm-src", "rm -f src/old.py"),
    ok("shell-rm-rf-pycache", "rm -rf src/__pycache__"),
    ok("shell-tee-a-tests", "echo x | tee -a tests/log.txt"),
    ok("shell-heredoc-src", "cat > src/gen.py <<'EOF'\nX = 1\nEOF"),
    ok("shell-dd-src", "dd if=/dev/zero of=src/blob bs=1 count=1"),
    ok("shell-ln-src", "ln -s a.py src/alias.py"),
    ok("shell-chmod-src", "chmod +x src/tool.py"),
    ok("shell-truncate-src", "truncate -s 0 src/a.py"),
    ok("shell-tmp", "echo x > /tmp/guard-out.txt"),
    ok("shell-devnull", "echo x > /dev/null"),
    ok("shell-cd-src-write", "cd src && echo x > a.py"),
    ok("shell-cwd-src-write", "echo x > a.py", cwd="src"),
    ok("shell-cwd-src-up-tests", "echo x > ../tests/t.txt", cwd="src"),
    ok("shell-cd-tmp-write", "cd /tmp && echo x > out.txt"),
    # -- file tools inside the allowed paths ---------------------------------------------------
    ok("write-src", "src/a.py", tool="Write"),
    ok("edit-src", "src/a.py", tool="Edit"),
    ok("write-tests", "tests/test_a.py", tool="Write"),
    ok("write-deep-src", "src/pkg/deep/mod.py", tool="Write"),
    ok("write-state-own", "state/impl-data.md", tool="Write"),
    ok("edit-state-own", "state/impl-data.md", tool="Edit"),
    ok("write-root-abs", "{root}/src/new.py", tool="Write"),
    ok("write-dotdot-inside", "tests/../src/c.py", tool="Write"),
    ok("edit-cwd-relative", "a.py", tool="Edit", cwd="src"),
    ok("write-tmp-placeholder", "{tmp}/scratch.txt", tool="Write"),
    ok("write-tmp-literal", "/tmp/guard-note.md", tool="Write"),
    ok("nb-src", "src/nb.ipynb", tool="NotebookEdit"),
    ok("nb-tests", "tests/nb.ipynb", tool="NotebookEdit"),
    # ================================================================================
    # Implementor: every bypass form must be denied
    # ================================================================================
    # -- merge, plain and behind git's global options ------------------------------------------
    no("merge-main", "git merge main", MERGE),
    no("merge-overseer", f"git merge {OV}", MERGE),
    no("merge-squash-sibling", f"git merge --squash {API}", MERGE),
    no("merge-ff-only", f"git merge --ff-only origin/{OV}", MERGE),
    no("merge-C-dot", "git -C . merge main", MERGE),
    no("merge-no-pager", "git --no-pager merge main", MERGE),
    no("merge-paginate", "git -p merge main", MERGE),
    no("merge-c-pager", "git -c core.pager=cat merge x", MERGE),
    no("merge-literal-pathspecs", "git --literal-pathspecs merge main", MERGE),
    no("merge-namespace", "git --namespace=x merge main", MERGE),
    no("merge-alias", "git -c alias.m=merge m main", MERGE),
    no("merge-alias-shell", "git -c 'alias.m=!git merge main' m", UNCHECKED),
    no("merge-git-dir", "git --git-dir=.git merge main"),
    no("merge-work-tree", "git --work-tree=. merge main"),
    # -- merge behind quoting ------------------------------------------------------------------
    no("merge-quoted-git", '"git" merge main', MERGE),
    no("merge-backslash-git", "\\git merge main", MERGE),
    no("merge-split-quote-git", "g'i't merge main", MERGE),
    no("merge-quoted-subcommand", 'git "merge" main', MERGE),
    no("merge-empty-quotes", "git me''rge main", MERGE),
    no("merge-abs-git", "/usr/bin/git merge main", note="git called by path is still git"),
    # -- merge behind wrappers -----------------------------------------------------------------
    no("merge-bash-c", 'bash -c "git merge main"', MERGE),
    no("merge-sh-c", "sh -c 'git merge main'", MERGE),
    no("merge-zsh-c", "zsh -c 'git merge main'", MERGE),
    no("merge-bash-c-nested", "bash -c \"sh -c 'git merge main'\"", MERGE),
    no("bash-c-dynamic", 'bash -c "$CMD"', UNCHECKED),
    no("merge-env", "env git merge main", MERGE),
    no("merge-env-i", "env -i PATH=/usr/bin git merge main", MERGE),
    no("merge-env-u", "env -u HOME A=1 git merge main", MERGE),
    no("merge-command", "command git merge main", MERGE),
    no("merge-exec", "exec git merge main", MERGE),
    no("merge-nohup", "nohup git merge main", MERGE),
    no("merge-nice", "nice git merge main", MERGE),
    no("merge-nice-n", "nice -n 5 git merge main", MERGE),
    no("merge-timeout", "timeout 5 git merge main", MERGE),
    no("merge-timeout-opts", "timeout -s KILL 5 git merge main", MERGE),
    no("merge-stdbuf", "stdbuf -oL git merge main", MERGE),
    no("merge-time", "time git merge main", MERGE),
    no("merge-assignment", "A=1 git merge main", MERGE),
    no("merge-assignments", "A=1 B=2 git merge main", MERGE),
    no("merge-xargs", "xargs git merge < branches.txt", MERGE),
    no("merge-xargs-opts", "echo main | xargs -n1 git merge", MERGE),
    # -- merge inside lists, groups and substitutions ------------------------------------------
    no("merge-after-and", "echo ok && git merge main", MERGE),
    no("merge-after-or", "false || git merge main", MERGE),
    no("merge-after-semicolon", "git status; git merge main", MERGE),
    no("merge-after-newline", "git status\ngit merge main", MERGE),
    no("merge-background", "git merge main & wait", MERGE),
    no("merge-in-pipe", "echo x | git merge main", MERGE),
    no("merge-subshell", "(git merge main)", MERGE),
    no("merge-brace-group", "{ git merge main; }", MERGE),
    no("merge-dollar-subst", "echo $(git merge main)", MERGE),
    no("merge-backtick-subst", "echo `git merge main`", MERGE),
    no("merge-dquote-subst", 'echo "$(git merge main)"', MERGE),
    no("merge-nested-subst", "echo $(echo $(git merge main))", MERGE),
    no("merge-in-commit-msg-subst", 'git commit -m "$(git merge main)"', MERGE),
    no("merge-in-if", "if true; then git merge main; fi"),
    no("merge-in-for", 'for b in main; do git merge "$b"; done'),
    # -- unanalysable forms --------------------------------------------------------------------
    no("eval-merge", 'eval "git merge main"', UNCHECKED),
    no(
        "eval-harmless",
        'eval "git status"',
        UNCHECKED,
        note="eval is unanalysable whatever its argument",
    ),
    no("var-command", "cmd=git; $cmd merge main", UNCHECKED),
    no("subst-command", "$(echo git) merge main", UNCHECKED),
    no("backtick-command", "`echo git` merge main", UNCHECKED),
    no(
        "var-git-subcommand",
        "git $SUB main",
        note="a variable as git's subcommand is as unknowable as one in command position",
    ),
    no("source-script", "source ./scripts/merge.sh", UNCHECKED),
    no("dot-script", ". ./scripts/merge.sh", UNCHECKED),
    no("python-c-system", "python3 -c \"import os; os.system('git merge main')\"", UNCHECKED),
    no("python-c-harmless", "python -c 'print(1)'", UNCHECKED, note=INTERP),
    no("env-python-c", "env python3 -c 'print(1)'", UNCHECKED),
    no("node-e", "node -e \"require('child_process').execSync('git merge main')\"", UNCHECKED),
    no("node-eval", 'node --eval "process.exit(0)"', UNCHECKED, note=INTERP),
    no("perl-e", "perl -e 'system(\"git merge main\")'", UNCHECKED),
    no("perl-E", "perl -E 'say 1'", UNCHECKED, note=INTERP),
    no(
        "perl-pi-e",
        "perl -pi -e 's/a/b/' src/a.py",
        note="`-pi -e` carries inline code (`-e`), unanalysable although the write is in src",
    ),
    no("ruby-e", "ruby -e 'system(\"git merge main\")'", UNCHECKED),
    no("php-r", "php -r 'system(\"git merge main\");'", UNCHECKED),
    no("deno-eval", 'deno eval "Deno.exit(0)"', UNCHECKED, note=INTERP),
    no(
        "python-heredoc",
        "python3 - <<'EOF'\nimport os\nos.system('git merge main')\nEOF",
        UNCHECKED,
    ),
    no(
        "python-stdin-heredoc",
        "python3 <<EOF\nprint(1)\nEOF",
        note="a heredoc-fed interpreter without `-` reads its program from stdin too",
    ),
    # -- pull that merges ----------------------------------------------------------------------
    no("pull", "git pull", PULL),
    no("pull-origin-main", "git pull origin main", PULL),
    no("pull-no-rebase", f"git pull --no-rebase origin {OV}", PULL),
    no(
        "pull-rebase-false",
        "git pull --rebase=false origin main",
        note="--rebase=false is an explicit merge, not --rebase",
    ),
    # -- checkout / switch / worktree add of protected branches --------------------------------
    no("checkout-main", "git checkout main"),
    no("checkout-master", "git checkout master"),
    no("switch-main", "git switch main"),
    no("switch-overseer", f"git switch {OV}"),
    no("checkout-sibling", f"git checkout {API}"),
    no("checkout-other-feature", f"git checkout {OTHER_FEATURE}"),
    no("checkout-B-main", "git checkout -B main"),
    no("switch-C-overseer", f"git switch -C {OV}"),
    no("switch-force-create-main", "git switch --force-create main HEAD"),
    no(
        "worktree-add-main",
        "git worktree add -f /tmp/wt-main main",
        note="checks out main in a new worktree, like `checkout main`",
    ),
    # -- branch --------------------------------------------------------------------------------
    no("branch-f-main", "git branch -f main HEAD"),
    no("branch-force-overseer", f"git branch --force {OV} HEAD"),
    no("branch-D-sibling", f"git branch -D {API}"),
    no("branch-d-main", "git branch -d main"),
    no("branch-m-overseer", f"git branch -m {OV} x"),
    no(
        "branch-M-onto-main",
        "git branch -M main",
        note="renames the current branch onto main, overwriting it",
    ),
    no(
        "branch-c-main",
        "git branch -c main main-copy",
        note="the policy denies -c/-C naming a protected branch as source or target",
    ),
    # -- rebase --------------------------------------------------------------------------------
    no("rebase-exec-merge", f"git rebase --exec 'git merge main' {OV}"),
    no(
        "rebase-x-tests",
        f"git rebase -x 'pytest -q' {OV}",
        note="--exec/-x is unanalysable whatever it runs",
    ),
    no(
        "rebase-onto-sibling",
        f"git rebase {API}",
        note="the policy denies upstreams naming a protected branch other than the overseer "
        "branch, and then allows main; a sibling stays denied",
    ),
    no(
        "rebase-branch-arg-main",
        f"git rebase {OV} main",
        note="the second argument is the branch rebased: this rewrites main",
    ),
    no(
        "rebase-onto-branch-arg-sibling",
        f"git rebase --onto {OV} HEAD~2 {API}",
        note="rewrites the sibling branch named as <branch>",
    ),
    # -- push to protected refs ----------------------------------------------------------------
    no("push-main", "git push origin main", PUSH),
    no("push-master", "git push origin master", PUSH),
    no("push-head-main", "git push origin HEAD:main", PUSH),
    no("push-head-main-quoted", 'git push origin "HEAD:main"', PUSH),
    no("push-refs-heads-main", "git push origin HEAD:refs/heads/main", PUSH),
    no("push-src-refs-heads-main", "git push origin refs/heads/main", PUSH),
    no("push-force-head-main", "git push -f origin HEAD:main", PUSH),
    no("push-overseer", f"git push origin {OV}", PUSH),
    no("push-own-to-overseer", f"git push origin {DATA}:{OV}", PUSH),
    no("push-plus-head-overseer", f"git push origin +HEAD:{OV}", PUSH),
    no("push-sibling", f"git push origin HEAD:{API}", PUSH),
    no("push-other-feature", f"git push origin HEAD:{OTHER_FEATURE}", PUSH),
    no("push-multi-refspec", f"git push origin {DATA} main", PUSH),
    no("push-other-remote-main", "git push upstream main", PUSH),
    no("push-delete-colon-sibling", f"git push origin :{API}"),
    no("push-delete-flag-sibling", f"git push --delete origin {UI}"),
    no("push-d-sibling", f"git push -d origin {API}"),
    no("push-all", "git push --all origin"),
    no("push-mirror", "git push --mirror origin"),
    # -- refs ----------------------------------------------------------------------------------
    no("update-ref-main", "git update-ref refs/heads/main HEAD"),
    no("update-ref-delete-sibling", f"git update-ref -d refs/heads/{API}"),
    no("symbolic-ref-main", "git symbolic-ref HEAD refs/heads/main"),
    no("replace", "git replace HEAD main"),
    no("fetch-into-main", "git fetch origin main:main"),
    no("fetch-into-refs-heads-main", "git fetch origin main:refs/heads/main"),
    no("fetch-plus-into-overseer", f"git fetch origin +{OV}:{OV}"),
    no("worktree-remove-other", "git worktree remove --force {other}"),
    no("worktree-move-other", "git worktree move {other} /tmp/moved"),
    # -- git configuration ---------------------------------------------------------------------
    no("config-alias", "git config alias.m merge", CONFIG),
    no("config-add-alias", "git config --add alias.m merge", CONFIG),
    no("config-global-alias", "git config --global alias.m merge", CONFIG),
    no("config-hookspath", "git config core.hooksPath /dev/null", CONFIG),
    no("config-unset-hookspath", "git config --unset core.hooksPath", CONFIG),
    no("config-core-editor", "git config core.editor true", CONFIG),
    no("config-include", "git config include.path /tmp/evil.cfg", CONFIG),
    no(
        "config-includeif",
        "git config includeIf.onbranch:x.path /tmp/evil.cfg",
        note="includeIf.* includes a file exactly like include.*",
    ),
    no(
        "c-hookspath-commit",
        "git -c core.hooksPath=/dev/null commit -m x",
        note="the same setting `git config core.hooksPath` may not make, for one command",
    ),
    no(
        "shell-home-gitconfig",
        "echo '[alias] m = merge' >> ~/.gitconfig",
        note="~ is outside the worktree (HOME is pointed outside /tmp by the test)",
    ),
    # -- git in another worktree ---------------------------------------------------------------
    no("git-C-other-commit", "git -C {other} commit -m x"),
    no(
        "git-C-relative-sibling",
        "git -C ../impl-api status",
        note="the policy allows -C only inside the own worktree, whatever the subcommand",
    ),
    no(
        "git-C-main-status",
        "git -C {main} status",
        note="the policy allows -C only inside the own worktree, whatever the subcommand",
    ),
    no("git-dir-main-commit", "git --git-dir={main}/.git --work-tree={main} commit -am x"),
    no("cd-other-commit", "cd {other} && git commit -am x", note=CD_OTHER),
    no("subshell-cd-main-commit", "(cd {main} && git commit -am x)", note=CD_OTHER),
    # -- gh and the orchestrator ---------------------------------------------------------------
    no("gh-pr-merge", "gh pr merge 3", "merge"),
    no("gh-pr-merge-squash", "gh pr merge --squash 3", "merge"),
    no("gh-pr-merge-auto", "gh pr merge --auto --merge 3", "merge"),
    no("gh-pr-merge-env", "env GH_TOKEN=x gh pr merge 3", "merge"),
    no("gh-api-merge-put", "gh api repos/o/r/pulls/3/merge -X PUT", "merge"),
    no("gh-api-put-first", "gh api -X PUT repos/o/r/pulls/3/merge", "merge"),
    no("gh-api-method-put-pull", "gh api --method PUT repos/o/r/pulls/3"),
    no(
        "gh-api-graphql-merge",
        "gh api graphql -f query='mutation { mergePullRequest(input: {}) { clientMutationId } }'",
        "merge",
    ),
    no(
        "gh-api-merges-endpoint",
        "gh api repos/o/r/merges -f base=main -f head=x",
        "merge",
        note="the endpoint contains /merge: the merges API merges branches server-side",
    ),
    no(
        "gh-api-patch-main-ref",
        "gh api -X PATCH repos/o/r/git/refs/heads/main -f sha=abc",
        note="the policy allows 'other gh api', but this moves main server-side like "
        "`git update-ref`; denied as the safer reading",
    ),
    no(
        "co-merge-pr",
        "claude-orchestrator merge-pr 3",
        note="not in the policy; merge-pr merges a PR (overseer only), so implementors may "
        "not run it",
    ),
    # -- shell writes outside the allowed paths ------------------------------------------------
    no("shell-redirect-config", "echo x > orchestrator.yaml", "orchestrator.yaml"),
    no("shell-redirect-quoted", 'echo x > "orchestrator.yaml"', "orchestrator.yaml"),
    no("shell-redirect-dot-slash", "echo x > ./orchestrator.yaml", "orchestrator.yaml"),
    no("shell-amp-redirect", "echo x &> orchestrator.yaml", "orchestrator.yaml"),
    no("shell-clobber-redirect", "echo x >| orchestrator.yaml", "orchestrator.yaml"),
    no("shell-stderr-redirect", "ls 2> orchestrator.yaml", "orchestrator.yaml"),
    no("shell-append-overseer-state", "echo x >> state/overseer.md", "state/overseer.md"),
    no("shell-dotdot-overseer-state", "echo x > src/../state/overseer.md", "state/overseer.md"),
    no("shell-tasks", 'echo "- [x] T001" >> specs/003-reading-goals/tasks.md', "tasks.md"),
    no("shell-pyproject", "echo x >> pyproject.toml", "pyproject.toml"),
    no(
        "shell-heredoc-config",
        "cat > orchestrator.yaml <<'EOF'\nversion: 1\nEOF",
        "orchestrator.yaml",
    ),
    no("shell-tee-workflow", "tee .github/workflows/x.yml"),
    no("shell-tee-multi", "echo x | tee src/ok.txt orchestrator.yaml", "orchestrator.yaml"),
    no("shell-cp-claude", "cp /tmp/x .claude/settings.json"),
    no("shell-cp-into-workflows", "cp src/a.py .github/workflows/"),
    no("shell-mv-readme", "mv src/a.py README.md", "README.md"),
    no("shell-mv-t-claude", "mv -t .claude src/a.py"),
    no("shell-sed-i-config", "sed -i s/a/b/ orchestrator.yaml", "orchestrator.yaml"),
    no("shell-sed-in-place-config", "sed --in-place s/a/b/ orchestrator.yaml", "orchestrator.yaml"),
    no("shell-rm-overseer-state", "rm state/overseer.md", "state/overseer.md"),
    no("shell-rm-rf-star", "rm -rf *", note="a glob at the root expands to protected files too"),
    no("shell-rm-rf-dot", "rm -rf ."),
    no("shell-rmdir-docs", "rmdir docs"),
    no("shell-touch-docs", "touch docs/new.md"),
    no("shell-truncate-config", "truncate -s 0 orchestrator.yaml", "orchestrator.yaml"),
    no("shell-dd-config", "dd of=orchestrator.yaml", "orchestrator.yaml"),
    no("shell-ln-claude", "ln -s /tmp/x src/../.claude/x"),
    no("shell-install-hook", "install -m 755 /tmp/hook .git/hooks/pre-push"),
    no("shell-chmod-hook", "chmod +x .git/hooks/pre-push"),
    no("shell-hook", "echo x > .git/hooks/pre-commit"),
    no("shell-rsync-claude", "rsync -a /tmp/x/ .claude/"),
    no(
        "shell-patch",
        "patch -p1 < /tmp/x.diff",
        note="the policy: patch is a write of unknown target",
    ),
    no(
        "shell-symlink-claude",
        "echo x > src/claude_link/settings.json",
        note="src/claude_link is a symlink to ../.claude (made by the test)",
    ),
    no("shell-dynamic-redirect", 'echo x > "$OUT"', note=DYNAMIC_TARGET),
    no("shell-dynamic-cp", "cp src/a.py $DEST", note=DYNAMIC_TARGET),
    no("shell-bash-c-write", 'bash -c "echo x > state/overseer.md"', "state/overseer.md"),
    no("shell-env-sh-c-write", "env A=1 sh -c 'echo x > orchestrator.yaml'", "orchestrator.yaml"),
    no("shell-subst-write", "echo $(echo x > orchestrator.yaml)", "orchestrator.yaml"),
    # -- shell writes resolved against cwd and cd ----------------------------------------------
    no(
        "shell-cd-parent-write",
        "cd .. && echo x > a.py",
        note="lands in the directory holding the worktrees, outside the own worktree",
    ),
    no("shell-cd-src-up-config", "cd src && echo x > ../orchestrator.yaml", "orchestrator.yaml"),
    no("shell-cwd-src-up-config", "echo x > ../orchestrator.yaml", "orchestrator.yaml", cwd="src"),
    no("shell-cd-twice-readme", "cd src; cd ..; echo x > README.md", "README.md"),
    # -- shell writes into other worktrees -----------------------------------------------------
    no("shell-cp-other", "cp src/a.py {other}/src/a.py", OUTSIDE),
    no("shell-redirect-main", "echo x > {main}/src/a.py", OUTSIDE),
    no("shell-rm-sibling-worktree", "rm -rf ../impl-api", OUTSIDE),
    no("shell-cd-main-write", "cd {main} && echo x > src/a.py", OUTSIDE),
    no("shell-main-hook", "echo x > {main}/.git/hooks/pre-push"),
    no("shell-main-ref", "echo abc > {main}/.git/refs/heads/main"),
    no("sudo-rm", "sudo rm -rf /"),
    no("sudo-git-status", "sudo git status", note=SUDO),
    # -- file tools outside the allowed paths --------------------------------------------------
    no("write-config", "orchestrator.yaml", "orchestrator.yaml", tool="Write"),
    no("edit-config", "orchestrator.yaml", "orchestrator.yaml", tool="Edit"),
    no("write-overseer-state", "state/overseer.md", "state/overseer.md", tool="Write"),
    no("edit-overseer-state", "state/overseer.md", "state/overseer.md", tool="Edit"),
    no("write-claude-permissions", ".claude/permissions-implementor.json", tool="Write"),
    no("edit-claude-settings", ".claude/settings.json", tool="Edit"),
    no("write-workflow", ".github/workflows/implementor-ci.yml", tool="Write"),
    no("write-git-hook", ".git/hooks/pre-push", tool="Write"),
    no("edit-tasks", "specs/003-reading-goals/tasks.md", "tasks.md", tool="Edit"),
    no("write-other-spec-tasks", "specs/004-other/tasks.md", "tasks.md", tool="Write"),
    no("write-readme", "README.md", "README.md", tool="Write"),
    no("write-docs", "docs/guide.md", "docs/guide.md", tool="Write"),
    no("edit-pyproject", "pyproject.toml", "pyproject.toml", tool="Edit"),
    no(
        "write-state-bak",
        "state/impl-data.md.bak",
        tool="Write",
        note="does not match state/impl-*.md",
    ),
    no("write-dotdot-config", "src/../orchestrator.yaml", "orchestrator.yaml", tool="Write"),
    no(
        "write-root-dotdot-state",
        "{root}/src/../state/overseer.md",
        "state/overseer.md",
        tool="Write",
    ),
    no("write-tests-dotdot-workflow", "tests/../.github/workflows/ci.yml", tool="Write"),
    no("edit-cwd-up-config", "../orchestrator.yaml", "orchestrator.yaml", tool="Edit", cwd="src"),
    no("write-other-worktree", "{other}/src/a.py", OUTSIDE, tool="Write"),
    no("edit-main-tree", "{main}/src/a.py", OUTSIDE, tool="Edit"),
    no("write-main-config", "{main}/orchestrator.yaml", tool="Write"),
    no("write-main-hook", "{main}/.git/hooks/pre-push", tool="Write"),
    no("write-main-ref", "{main}/.git/refs/heads/main", tool="Write"),
    no("write-etc", "/etc/cron.d/x", tool="Write"),
    no(
        "write-symlink-claude",
        "src/claude_link/settings.json",
        tool="Write",
        note="src/claude_link -> ../.claude: resolved before deciding",
    ),
    no(
        "write-symlink-main",
        "src/escape/src/a.py",
        tool="Write",
        note="src/escape -> the main working tree",
    ),
    no(
        "write-tmp-symlink-into-repo",
        "{tmp}/repo_link/settings.json",
        tool="Write",
        note="{tmp}/repo_link -> .claude of the worktree: /tmp is allowed only for paths that "
        "really are outside the repository",
    ),
    no("nb-other-worktree", "{other}/src/nb.ipynb", OUTSIDE, tool="NotebookEdit"),
    no("nb-outside-paths", "notebooks/explore.ipynb", tool="NotebookEdit"),
    no("nb-claude", ".claude/x.ipynb", tool="NotebookEdit"),
    # ================================================================================
    # Overseer
    # ================================================================================
    # -- allowed: merges, pushes, gh, unrestricted shell forms ---------------------------------
    ok("ov-merge-impl", f"git merge {DATA}", role=OVER),
    ok("ov-merge-no-ff", "git merge --no-ff x", role=OVER),
    ok("ov-merge-no-ff-msg", f'git merge --no-ff {API} -m "merge api"', role=OVER),
    ok("ov-merge-alias", f"git -c alias.m=merge m {DATA}", role=OVER),
    ok("ov-pull-main", "git pull origin main", role=OVER),
    ok("ov-rebase-main", "git rebase main", role=OVER),
    ok("ov-checkout-main", "git checkout main", role=OVER),
    ok("ov-git-C-root", "git -C {root} status", role=OVER),
    ok("ov-config-alias", "git config alias.m merge", role=OVER),
    ok("ov-branch-D-unprotected", "git branch -D wip-x", role=OVER),
    ok("ov-push-own", f"git push origin {OV}", role=OVER),
    ok("ov-push-force-own", f"git push --force origin {OV}", role=OVER),
    ok("ov-push-fwl-own", f"git push --force-with-lease origin {OV}", role=OVER),
    ok("ov-push-plus-own", f"git push origin +{OV}", role=OVER),
    ok(
        "ov-push-f-bare",
        "git push -f",
        role=OVER,
        note="no refspec: pushes the current branch, the overseer branch",
    ),
    ok("ov-push-main", "git push origin main", role=OVER, note="a normal (fast-forward) push"),
    ok("ov-push-head-main", "git push origin HEAD:main", role=OVER),
    ok("ov-push-own-to-main", f"git push origin {OV}:main", role=OVER),
    ok("ov-push-delete-unprotected", "git push origin --delete wip-x", role=OVER),
    ok("ov-gh-pr-merge", "gh pr merge 3", role=OVER),
    ok("ov-gh-pr-merge-squash", "gh pr merge --squash 3", role=OVER),
    ok("ov-gh-api-merge", "gh api repos/o/r/pulls/3/merge -X PUT", role=OVER),
    ok("ov-co-merge-pr", "claude-orchestrator merge-pr 3", role=OVER),
    ok("ov-pytest-integration", "pytest -q tests/integration", role=OVER),
    ok("ov-python-c", "python3 -c 'print(1)'", role=OVER),
    ok("ov-node-e", 'node -e "console.log(1)"', role=OVER),
    ok(
        "ov-eval",
        "eval x",
        role=OVER,
        note="the policy restricts unanalysable forms to implementors",
    ),
    ok("ov-bash-c-dynamic", 'bash -c "$CMD"', role=OVER),
    # -- allowed: writes anywhere in the own worktree but .git ---------------------------------
    ok("ov-shell-config", "echo x > orchestrator.yaml", role=OVER),
    ok("ov-shell-tasks", 'echo "- [x] T001" >> specs/003-reading-goals/tasks.md', role=OVER),
    ok("ov-shell-tmp", "echo x > /tmp/ov.txt", role=OVER),
    ok("ov-write-config", "orchestrator.yaml", role=OVER, tool="Write"),
    ok("ov-edit-tasks", "specs/003-reading-goals/tasks.md", role=OVER, tool="Edit"),
    ok("ov-write-workflow", ".github/workflows/x.yml", role=OVER, tool="Write"),
    ok("ov-write-overseer-state", "state/overseer.md", role=OVER, tool="Write"),
    ok("ov-write-readme", "README.md", role=OVER, tool="Write"),
    ok("ov-edit-src", "src/a.py", role=OVER, tool="Edit"),
    ok(
        "ov-write-claude",
        ".claude/settings.json",
        role=OVER,
        tool="Write",
        note="paths.overseer is ** minus .git/**; Claude Code guards .claude/ itself",
    ),
    ok("ov-write-tmp", "{tmp}/notes.md", role=OVER, tool="Write"),
    ok("ov-nb", "notebooks/x.ipynb", role=OVER, tool="NotebookEdit"),
    # -- denied: force-pushing or deleting main ------------------------------------------------
    no("ov-push-force-main", "git push --force origin main", role=OVER),
    no("ov-push-f-main", "git push -f origin main", role=OVER),
    no("ov-push-plus-main", "git push origin +main", role=OVER),
    no("ov-push-plus-head-main", "git push origin +HEAD:main", role=OVER),
    no("ov-push-plus-refs-main", "git push origin +HEAD:refs/heads/main", role=OVER),
    no(
        "ov-push-fwl-main",
        "git push --force-with-lease origin main",
        role=OVER,
        note="--force-with-lease is a force push",
    ),
    no("ov-push-force-multi", f"git push --force origin {OV} main", role=OVER),
    no(
        "ov-push-mirror",
        "git push --mirror origin",
        role=OVER,
        note="--mirror force-updates and deletes remote refs, main included",
    ),
    no("ov-push-colon-main", "git push origin :main", role=OVER),
    no("ov-push-delete-main", "git push origin --delete main", role=OVER),
    no("ov-push-d-main", "git push -d origin main", role=OVER),
    no("ov-bash-c-force-main", 'bash -c "git push --force origin main"', role=OVER),
    no("ov-env-force-main", "env git push -f origin main", role=OVER),
    no("ov-C-force-main", "git -C . push --force origin main", role=OVER),
    # -- denied: deleting implementor branches with unmerged work ------------------------------
    no("ov-branch-D-impl", f"git branch -D {API}", role=OVER),
    no("ov-branch-D-impl-data", f"git branch -D {DATA}", role=OVER),
    no("ov-branch-delete-force-impl", f"git branch --delete --force {UI}", role=OVER),
    no(
        "ov-branch-d-impl",
        f"git branch -d {API}",
        role=OVER,
        note="-d is a deletion too; every implementor branch holds unmerged work",
    ),
    no(
        "ov-branch-D-main",
        "git branch -D main",
        role=OVER,
        note="not listed (the policy names push deletions of main); denied as safer",
    ),
    no("ov-push-delete-impl", f"git push origin --delete {API}", role=OVER),
    no("ov-push-colon-impl", f"git push origin :{UI}", role=OVER),
    # -- denied: writes outside the own worktree or into .git ----------------------------------
    no("ov-shell-other", "echo x > {other}/src/a.py", role=OVER),
    no("ov-shell-cp-main", "cp state/overseer.md {main}/state/overseer.md", role=OVER),
    no("ov-shell-main-hook", "echo x > {main}/.git/hooks/pre-push", role=OVER),
    no(
        "ov-shell-cd-parent-write",
        "cd .. && echo x > a.py",
        role=OVER,
        note="the overseer writes 'inside its own worktree'; outside it (and /tmp) is denied",
    ),
    no("ov-shell-rm-git", "rm -rf .git", role=OVER),
    no("ov-shell-sed-git-config", "sed -i s/a/b/ .git/config", role=OVER),
    no("ov-sudo", "sudo ls", role=OVER, note=SUDO),
    no("ov-write-other", "{other}/src/a.py", role=OVER, tool="Write"),
    no("ov-edit-main", "{main}/src/a.py", role=OVER, tool="Edit"),
    no("ov-write-git-config", ".git/config", role=OVER, tool="Write"),
    no("ov-write-git-hook", ".git/hooks/pre-push", role=OVER, tool="Write"),
    no("ov-edit-main-git-config", "{main}/.git/config", role=OVER, tool="Edit"),
    no("ov-write-outside-root", "../outside.md", role=OVER, tool="Write"),
    no("ov-write-etc", "/etc/x", role=OVER, tool="Write"),
    no("ov-nb-other", "{other}/nb.ipynb", role=OVER, tool="NotebookEdit"),
]
