"""``claude-orchestrator guard``: a Claude Code PreToolUse hook that makes role rules hold.

Permission rules in a settings file judge command *lines*; git's global options, shell
wrappers, ``bash -c`` and substitutions get around them. The guard parses the command
(:mod:`claude_orchestrator.shellparse`), strips wrappers, expands command-line git
aliases, resolves paths (``..``, symlinks, other worktrees) and then decides, per role:

* an implementor may not merge (``git merge``, a ``git pull`` that merges, ``gh pr merge``,
  ``gh api`` merges), may not check out, switch to, push to, reset, delete, move or update
  the main branch, master, the overseer branch or another agent's branch, may not change
  git's aliases or hooks configuration, and may write only inside its worktree, in its
  role's paths, never to ``state/overseer.md``, the permission, hook or workflow files,
  the config, the feature's tasks.md or the git directory. What it cannot analyse
  (``eval``, a variable in command position, ``python -c`` ...) is denied, except the test
  commands named in the config;
* the overseer may merge, but not force-push or delete the main branch, nor delete an
  implementor branch that holds work not merged into the overseer branch.

It fails closed: malformed input, an unknown role, a role that does not match the
worktree's branch, an internal error — deny, exit 2, one line the agent can act on.
Every decision is logged to the store as a ``guard_decision`` event (secrets redacted);
see :func:`log_decision`.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .shellparse import Command, ShellSyntaxError, Word, parse

WRAPPERS = {"command", "builtin", "exec", "nohup", "time"}
SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "fish"}
INLINE_CODE = {
    "python": {"-c"}, "node": {"-e", "--eval", "-p", "--print"}, "perl": {"-e", "-E"},
    "ruby": {"-e"}, "php": {"-r"}, "deno": {"eval"}, "lua": {"-e"}, "Rscript": {"-e"},
}  # fmt: skip
WRITERS = {"tee", "cp", "mv", "rm", "rmdir", "touch", "mkdir", "ln", "truncate", "install",
           "chmod", "chown", "rsync", "dd", "sed", "perl", "patch", "unlink"}  # fmt: skip
SAFE_WRITE_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty")
GIT_GLOBAL_FLAGS = {"--no-pager", "-p", "--paginate", "-P", "--bare", "--no-replace-objects",
                    "--literal-pathspecs", "--glob-pathspecs", "--noglob-pathspecs",
                    "--icase-pathspecs", "--no-optional-locks", "--no-advice"}  # fmt: skip
PROTECTED_FILES = ("state/overseer.md", ".claude/**", ".github/workflows/**",
                   "orchestrator.yaml", ".git", ".git/**", ".githooks/**",
                   ".orchestrator-generated.json")  # fmt: skip


class Decision(NamedTuple):
    allowed: bool
    reason: str


ALLOW = Decision(True, "")


class Deny(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = " ".join(reason.split())


# ---------------------------------------------------------------------- matching
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("./") if pattern.startswith("./") else pattern.lstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    body = "".join(out)
    if pattern.endswith("/"):
        body += ".*"
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"{prefix}{body}(?:/.*)?")


def matches(patterns: Iterable[str], relative: str) -> bool:
    """gitignore-style: ``src/**``, ``*.md``, ``state/impl-*.md``; a directory covers its
    contents."""
    return any(_pattern_regex(p).fullmatch(relative) for p in patterns)


# ---------------------------------------------------------------------- context
class Context:
    """What the rules need to know about the agent making the call."""

    def __init__(self, *, role: str, root: Path, branch: str, config: Any,
                 vcs: Any = None) -> None:  # fmt: skip
        from .workflow import parse_branch

        self.role = role
        self.root = Path(os.path.realpath(root))
        self.branch = branch
        self.config = config
        self.vcs = vcs
        parsed = parse_branch(config.branch_prefix, branch)
        if role not in ("implementor", "overseer"):
            raise Deny(f"unknown role {role!r}: the guard knows implementor and overseer")
        if parsed is None:
            raise Deny(
                f"the worktree is on {branch!r}, not a feature branch: the {role} works on "
                f"its own {config.branch_prefix}/<spec>/... branch"
            )
        if (parsed.role == "overseer") != (role == "overseer"):
            raise Deny(f"role {role} does not match the worktree's branch {branch}")
        self.spec_id = parsed.spec_id
        self.area = parsed.area
        self.overseer_branch = config.overseer_branch(parsed.spec_id)
        self.main_names = {"main", "master", config.main_branch}
        self.prefix = config.branch_prefix.rstrip("/") + "/"
        kind = "overseer" if role == "overseer" else "implementor"
        self.test_commands = [c.strip() for c in config.test_commands(kind).values()]
        if role == "overseer":
            self.test_commands += [c.strip() for c in config.test_commands("implementor").values()]
        self.test_commands += [
            str(c).strip() for c in config.data.get("guard", {}).get("allow", [])
        ]
        self.write_paths = config.role_paths(kind, self.area)
        self.tasks_pattern = config.tasks_file_template.replace("{spec_id}", "*")
        self.git_dir: Path | None = None
        self.repository = self._repository_places()

    def _repository_places(self) -> list[Path]:
        """The git directory and every other worktree of this repository: never this
        agent's to write, wherever they are (also under /tmp)."""
        from .location import discover
        from .plugins.git_vcs import GitVCS

        location = discover(self.root, {})
        self.git_dir = Path(os.path.realpath(location.git_dir)) if location.git_dir else None
        places: list[Path] = []
        if location.common_dir is not None:
            places.append(Path(os.path.realpath(location.common_dir)))
            trees = GitVCS._worktrees_from_files(location.common_dir).values()
            places += [Path(os.path.realpath(t)) for t in trees]
        if location.git_dir is not None:
            places.append(Path(os.path.realpath(location.git_dir)))
        return [p for p in places if p != self.root]

    @property
    def implementor(self) -> bool:
        return self.role == "implementor"

    def ref_name(self, ref: str) -> str:
        ref = ref.lstrip("+")
        for prefix in ("refs/heads/", "heads/"):
            if ref.startswith(prefix):
                return ref[len(prefix) :]
        return self.branch if ref in ("HEAD", "@") else ref

    def protected(self, ref: str) -> bool:
        """For an implementor: any branch but its own that matters to others."""
        name = self.ref_name(ref)
        if name == self.branch:
            return False
        return name in self.main_names or name.startswith(self.prefix)


# ---------------------------------------------------------------------- decisions
def decide(payload: Any, *, role: str, root: Path, branch: str, config: Any,
           vcs: Any = None) -> Decision:  # fmt: skip
    """Allow or deny one tool call (never raises)."""
    try:
        if not isinstance(payload, dict):
            raise Deny("malformed hook input: expected a JSON object")
        tool = payload.get("tool_name")
        tool_input = payload.get("tool_input")
        if not isinstance(tool, str) or not isinstance(tool_input, dict):
            raise Deny("malformed hook input: tool_name and tool_input are required")
        if vcs is None:
            from .plugins.git_vcs import GitVCS

            vcs = GitVCS(Path(root))
        context = Context(role=role, root=root, branch=branch, config=config, vcs=vcs)
        cwd = payload.get("cwd") or str(context.root)
        if tool == "Bash":
            command = tool_input.get("command")
            if not isinstance(command, str):
                raise Deny("malformed hook input: Bash without a command")
            check_shell(context, command, Path(cwd))
        elif tool in ("Write", "Edit", "MultiEdit", "NotebookEdit"):
            path = tool_input.get("file_path") or tool_input.get("notebook_path")
            if not isinstance(path, str) or not path:
                raise Deny(f"malformed hook input: {tool} without a file path")
            check_write(context, Path(cwd), path, tool)
        return ALLOW
    except Deny as exc:
        return Decision(False, exc.reason)
    except Exception as exc:  # fail closed
        return Decision(False, f"guard internal error ({type(exc).__name__}: {exc}): denied")


def _unanalysable(context: Context, what: str) -> None:
    if context.implementor:
        raise Deny(
            f"cannot check {what}: implementors run commands plainly (no eval, variables in "
            "command position or inline interpreter code), or ask for it in orchestrator.yaml"
        )


def check_shell(context: Context, command: str, cwd: Path, depth: int = 0) -> None:
    stripped = " ".join(command.split())
    for test in context.test_commands:
        rest = stripped[len(test) :]
        if (
            test
            and (stripped == test or stripped.startswith(test + " "))
            and not any(c in rest for c in ";&|`$<>\n")
        ):
            return
    try:
        commands = parse(command)
    except ShellSyntaxError as exc:
        _unanalysable(context, f"this command ({exc})")
        return
    state = {"cwd": cwd}
    for cmd in commands:
        check_command(context, cmd, state, depth)


def _resolve(base: Path | None, target: str) -> Path | None:
    if base is None and not target.startswith(("/", "~")):
        return None
    expanded = os.path.expanduser(target)
    joined = expanded if os.path.isabs(expanded) else os.path.join(str(base), expanded)
    return Path(os.path.realpath(joined))


def check_command(context: Context, cmd: Command, state: dict[str, Any], depth: int) -> None:
    cwd = state["cwd"]
    for redirect in cmd.redirects:
        if redirect.op in (">", ">>", "&>", "&>>", ">|", "<>") or (
            redirect.op == ">&" and not redirect.target.text.isdigit()
            and redirect.target.text != "-"
        ):  # fmt: skip
            if redirect.target.dynamic:
                _unanalysable(context, f"a redirection to {redirect.target.text}")
                continue
            write_target(context, cwd, redirect.target.text, "a redirection")
        if redirect.op in ("<<", "<<-") and cmd.words:
            first = posixpath.basename(cmd.words[0].text)
            if _interpreter(first) or first in SHELLS:
                _unanalysable(context, f"{first} reading code from a here-document")
    words = unwrap(context, list(cmd.words))
    if not words:
        return
    head = words[0]
    if head.dynamic:
        _unanalysable(context, f"a command whose name is computed ({head.text})")
        return
    name = posixpath.basename(head.text)
    args = words[1:]
    if name == "cd":
        target = args[0] if args else Word("~", False)
        state["cwd"] = None if target.dynamic else _resolve(cwd, target.text)
        return
    if name in ("eval", "source", ".") or name in ("sudo", "doas", "su"):
        if name in ("sudo", "doas", "su"):
            raise Deny(f"{name} is not allowed: agents run with their own permissions")
        _unanalysable(context, f"`{name}`")
        return
    if name in SHELLS:
        script = _option_value(args, "-c")
        if script is not None:
            if script.dynamic:
                _unanalysable(context, f"{name} -c with a computed script")
                return
            inner = parse_or_deny(context, script.text)
            for sub in inner:
                check_command(context, sub, state, depth + 1)
        return
    interpreter = _interpreter(name)
    if interpreter and any(a.text in INLINE_CODE[interpreter] or
                           any(a.text.startswith(f"{o}=") for o in INLINE_CODE[interpreter])
                           for a in args):  # fmt: skip
        _unanalysable(context, f"inline {interpreter} code")
        return
    if interpreter and args and args[0].text == "-" and context.implementor:
        _unanalysable(context, f"{name} reading code from standard input")
    if name == "git":
        check_git(context, args, cwd, state, depth)
    elif name == "gh":
        check_gh(context, args)
    elif name == "claude-orchestrator" and context.implementor:
        if args and args[0].text in ("merge-pr", "generate", "init-feature", "hooks"):
            raise Deny(f"`claude-orchestrator {args[0].text}` is the overseer's")
    elif name in WRITERS:
        check_writer(context, name, args, cwd)


def parse_or_deny(context: Context, text: str) -> list[Command]:
    try:
        return parse(text)
    except ShellSyntaxError as exc:
        _unanalysable(context, f"this command ({exc})")
        return []


def _interpreter(name: str) -> str | None:
    base = re.sub(r"[\d.]+$", "", name)
    return base if base in INLINE_CODE else None


def _option_value(args: Sequence[Word], option: str) -> Word | None:
    for index, arg in enumerate(args):
        if arg.text == option and index + 1 < len(args):
            return args[index + 1]
        if arg.text.startswith("-") and not arg.text.startswith("--") and len(arg.text) > 2 \
                and option[1] in arg.text[1:] and arg.text.endswith(option[1]):  # fmt: skip
            return args[index + 1] if index + 1 < len(args) else None
    return None


XARGS_VALUED = {"-I", "-i", "-n", "-P", "-L", "-l", "-d", "-E", "-e", "-s", "-a",
                "--max-args", "--max-procs", "--delimiter", "--arg-file", "--replace",
                "--max-lines", "--eof", "--max-chars"}  # fmt: skip
#: wrapper -> its options that take a value (the wrapped command follows the options)
WRAPPER_OPTIONS: dict[str, set[str]] = {
    **{name: set() for name in WRAPPERS},
    "nice": {"-n", "--adjustment"},
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "stdbuf": {"-i", "-o", "-e"},
    "xargs": XARGS_VALUED,
    "env": {"-u", "--unset", "-C", "--chdir", "-S", "--split-string"},
}


def _skip_options(rest: list[Word], valued: set[str], assignments: bool = False) -> list[Word]:
    while rest and (rest[0].text.startswith("-") or (assignments and "=" in rest[0].text)):
        option = rest[0].text
        rest = rest[1:]
        if option in valued and rest:
            rest = rest[1:]
    return rest


def unwrap(context: Context, words: list[Word]) -> list[Word]:
    """Strip wrappers (env, command, timeout, nice, nohup, stdbuf, xargs ...)."""
    while words and not words[0].dynamic:
        name = posixpath.basename(words[0].text)
        if name not in WRAPPER_OPTIONS:
            return words
        if name == "env" and any(w.text in ("-S", "--split-string") for w in words[1:]):
            _unanalysable(context, "env -S")
        rest = _skip_options(words[1:], WRAPPER_OPTIONS[name], assignments=name == "env")
        if name == "timeout":
            rest = rest[1:]  # the duration
        if name == "xargs" and not rest:
            rest = [Word("echo", False)]  # bare xargs runs echo
        words = rest
    return words


# ---------------------------------------------------------------------- git
def check_git(context: Context, args: list[Word], cwd: Path | None,
              state: dict[str, Any], depth: int) -> None:  # fmt: skip
    texts = [a.text for a in args]
    aliases: dict[str, str] = {}
    if context.implementor:
        if cwd is None:
            _unanalysable(context, "git after a computed `cd`")
        elif not _inside(cwd, context.root):
            raise Deny(
                f"git runs in {cwd}, outside your worktree: implementors run git in {context.root}"
            )
    i = 0
    while i < len(texts) and texts[i].startswith("-"):
        option = texts[i]
        if option in ("-C",) and i + 1 < len(texts):
            target = _resolve(cwd, texts[i + 1])
            if context.implementor and (target is None or not _inside(target, context.root)):
                raise Deny(
                    f"git -C {texts[i + 1]} points outside your worktree: implementors run "
                    "git in their own worktree"
                )
            cwd = target
            i += 2
            continue
        if option == "-c" and i + 1 < len(texts):
            key, _, value = texts[i + 1].partition("=")
            if key.lower().startswith("alias."):
                aliases[key[len("alias.") :]] = value
            elif context.implementor and key.lower().startswith(("core.hookspath", "include")):
                raise Deny(f"git -c {key} is not allowed for implementors")
            i += 2
            continue
        if option.startswith(("--git-dir", "--work-tree", "--namespace", "--exec-path")):
            if context.implementor and option.startswith(("--git-dir", "--work-tree")):
                value = (
                    option.split("=", 1)[1]
                    if "=" in option
                    else (texts[i + 1] if i + 1 < len(texts) else "")
                )
                target = _resolve(cwd, value) if value else None
                own = context.git_dir if option.startswith("--git-dir") else context.root
                if target is None or own is None or not _inside(target, own):
                    raise Deny(
                        f"git {option.split('=', 1)[0]} {value} points outside your worktree: "
                        "implementors run git in their own worktree"
                    )
            i += 1 if "=" in option or option == "--exec-path" else 2
            continue
        if option in GIT_GLOBAL_FLAGS:
            i += 1
            continue
        if option in ("--version", "--help", "-h"):
            return
        _unanalysable(context, f"git option {option}")
        return
    if i >= len(texts):
        return
    if args[i].dynamic:
        _unanalysable(context, f"git with a computed subcommand ({texts[i]})")
        return
    sub = texts[i]
    rest = args[i + 1 :]
    if sub in aliases:
        value = aliases[sub]
        if value.startswith("!"):
            _unanalysable(context, f"git alias {sub} that runs a shell command")
            return
        import shlex

        try:
            expanded = [Word(t, False) for t in shlex.split(value)]
        except ValueError:
            _unanalysable(context, f"git alias {sub}")
            return
        check_git(context, expanded + rest, cwd, state, depth)
        return
    dynamic = any(a.dynamic for a in rest)
    if context.implementor:
        _git_implementor(context, sub, rest, dynamic)
    else:
        _git_overseer(context, sub, rest)


def _positionals(args: Sequence[Word], with_value: Iterable[str] = ()) -> list[str]:
    values = set(with_value)
    out: list[str] = []
    skip = False
    after_dashdash = False
    for arg in args:
        if skip:
            skip = False
            continue
        if after_dashdash:
            continue  # paths
        if arg.text == "--":
            after_dashdash = True
            continue
        if arg.text.startswith("-"):
            if arg.text in values:
                skip = True
            continue
        out.append(arg.text)
    return out


def _flags(args: Sequence[Word]) -> set[str]:
    flags = set()
    for arg in args:
        if arg.text == "--":
            break
        if arg.text.startswith("--"):
            flags.add(arg.text.split("=", 1)[0])
        elif arg.text.startswith("-") and len(arg.text) > 1:
            flags.update(f"-{c}" for c in arg.text[1:])
    return flags


def _git_implementor(context: Context, sub: str, args: list[Word], dynamic: bool) -> None:
    flags = _flags(args)
    sensitive = {"push", "checkout", "switch", "branch", "merge", "pull", "update-ref",
                 "symbolic-ref", "fetch", "reset", "worktree", "config"}  # fmt: skip
    if dynamic and sub in sensitive:
        _unanalysable(context, f"git {sub} with computed arguments")
    if sub == "merge":
        raise Deny("implementors may not merge; open a PR with `claude-orchestrator open-pr`")
    if sub == "pull":
        explicit_merge = any(a.text in ("--no-rebase", "--rebase=false", "--no-ff", "--ff")
                             for a in args)  # fmt: skip
        if explicit_merge or not flags & {"--rebase", "-r", "--ff-only"}:
            raise Deny(
                "implementors may not merge, and a plain `git pull` merges: use "
                f"`git pull --rebase` or `git rebase {context.overseer_branch}`"
            )
        return
    if sub == "rebase":
        if flags & {"--exec", "-x"}:
            _unanalysable(context, "git rebase --exec")
        valued = {"--onto", "-s", "--strategy", "-X", "--strategy-option", "-C", "--exec",
                  "-x", "--empty", "--whitespace", "--rebase-merges"}  # fmt: skip
        positional = _positionals(args, valued)
        onto = _option_value(args, "--onto")
        upstreams = positional[:1] + ([onto.text] if onto is not None else [])
        for name in upstreams:
            bare = name.split("/", 1)[1] if name.startswith("origin/") else name
            if (
                context.protected(bare)
                and bare != context.overseer_branch
                and (bare not in context.main_names)
            ):
                raise Deny(
                    f"implementors rebase onto {context.overseer_branch}, not onto "
                    f"{bare} (another agent's branch)"
                )
        if len(positional) >= 2 and context.protected(positional[1]):
            raise Deny(f"implementors may not rebase {positional[1]}")
        return
    if sub in ("checkout", "switch"):
        creating = {"-b", "-B", "-c", "-C", "--orphan", "--force-create", "--create"}
        if sub == "checkout" and any(a.text == "--" for a in args) and not flags & creating:
            return  # `git checkout <ref> -- <paths>` copies files; no branch moves
        for index, arg in enumerate(args):
            if arg.text in creating and index + 1 < len(args):
                name = args[index + 1].text
                if arg.text in ("-B", "-C", "--force-create") and context.protected(name):
                    raise Deny(f"implementors may not reset {name}")
                if context.protected(name) and _exists(context, name):
                    raise Deny(f"implementors may not check out {name}")
        for name in _positionals(args, creating | {"-t", "--track", "--conflict"}):
            if context.protected(name) and name != context.branch and not name.startswith(
                ("src/", "tests/")
            ):  # fmt: skip
                raise Deny(
                    f"implementors stay on their own branch {context.branch}: {sub} to {name} "
                    "is not allowed"
                )
        return
    if sub == "branch":
        changing = flags & {"-f", "--force", "-d", "-D", "--delete", "-m", "-M", "--move",
                            "-c", "-C", "--copy"}  # fmt: skip
        valued = {"-u", "--set-upstream-to", "--format", "--sort", "--contains", "--merged",
                  "--no-merged", "--points-at"}  # fmt: skip
        names = _positionals(args, valued)
        for name in names:
            if context.protected(name) and (changing or _exists(context, name)):
                raise Deny(f"implementors may not create, move, copy or delete branch {name}")
        return
    if sub == "push":
        if flags & {"--all", "--mirror", "--prune"}:
            raise Deny("implementors push only their own branch, not --all/--mirror/--prune")
        positional = _positionals(args, {"-o", "--push-option", "--repo", "--receive-pack",
                                         "--exec"})  # fmt: skip
        for spec in positional[1:]:
            src, colon, dst = spec.lstrip("+").partition(":")
            target = dst if colon else src  # also what `--delete`/`:dst` would delete
            if context.protected(target):
                raise Deny(
                    f"implementors may not push to {context.ref_name(target)}; push your own "
                    f"branch {context.branch}"
                )
        return
    if sub == "fetch":
        for spec in _positionals(args, {"--depth", "--deepen", "--shallow-since", "-j",
                                        "--jobs", "--upload-pack"})[1:]:  # fmt: skip
            _, colon, dst = spec.lstrip("+").partition(":")
            if colon and dst and not dst.startswith("refs/remotes/") and context.protected(dst):
                raise Deny(f"implementors may not update {context.ref_name(dst)} by a fetch")
        return
    if sub in ("update-ref", "symbolic-ref"):
        names = _positionals(args, {"-m"})
        writing = sub == "update-ref" or len(names) >= 2 or bool(flags & {"-d", "--delete"})
        touches = any(context.protected(n) for n in names[:2] if n != "HEAD")
        if (writing and touches) or (sub == "symbolic-ref" and len(names) >= 2):
            raise Deny(f"implementors may not move refs with git {sub}")
        return
    if sub == "worktree":
        positional = _positionals(args, {"-b", "-B", "--reason"})
        if positional and positional[0] in ("remove", "move", "prune", "lock", "unlock"):
            raise Deny("implementors may not remove or move worktrees")
        if positional[:1] == ["add"]:
            for name in positional[2:]:
                if context.protected(name):
                    raise Deny(f"implementors may not check out {name} (in a new worktree)")
            reset = _option_value(args, "-B")
            if reset is not None and context.protected(reset.text):
                raise Deny(f"implementors may not reset {reset.text}")
        return
    if sub == "config":
        writes = flags & {"--add", "--replace-all", "--unset", "--unset-all", "--rename-section",
                          "--remove-section", "-e", "--edit"}  # fmt: skip
        positional = _positionals(args, {"--file", "-f", "--blob", "--type", "--default"})
        reading = flags & {"--get", "--get-all", "--get-regexp", "--list", "-l", "--show-origin"}
        if (writes or len(positional) >= 2) and not reading:
            key = positional[0].lower() if positional else ""
            if key.startswith(("alias.", "core.", "include", "remote.", "branch.")) or writes:
                raise Deny(f"implementors may not change git's configuration ({key or sub})")
        return
    if sub == "replace":
        raise Deny("implementors may not replace objects")


def _exists(context: Context, name: str) -> bool:
    if context.vcs is None:
        return True
    return bool(context.vcs.branch_exists(context.ref_name(name)))


def _git_overseer(context: Context, sub: str, args: list[Word]) -> None:
    flags = _flags(args)
    if sub == "push":
        if flags & {"--mirror"}:
            raise Deny(f"git push --mirror force-updates {context.config.main_branch}: push "
                       "branches by name")  # fmt: skip
        forcing = bool(flags & {"--force", "-f", "--force-with-lease", "--force-if-includes"})
        deleting = bool(flags & {"--delete", "-d"})
        positional = _positionals(args, {"-o", "--push-option", "--repo", "--receive-pack",
                                         "--exec"})  # fmt: skip
        for spec in positional[1:]:
            plus = spec.startswith("+")
            src, colon, dst = spec.lstrip("+").partition(":")
            target = context.ref_name(dst if colon else src)
            removing = deleting or (colon and not src)
            if target in context.main_names and (forcing or plus or removing):
                raise Deny(f"nobody force-pushes or deletes {target}, the overseer included")
            if removing and _unmerged_implementor(context, target):
                raise Deny(f"{target} holds work not merged into {context.overseer_branch}: "
                           "merge its PR or keep the branch")  # fmt: skip
        return
    if sub == "branch" and flags & {"-d", "-D", "--delete", "-m", "-M", "--move"}:
        for name in _positionals(args):
            if context.ref_name(name) in context.main_names:
                raise Deny(f"nobody deletes or renames {name}, the overseer included")
            if flags & {"-m", "-M", "--move"}:
                continue
            if _unmerged_implementor(context, name):
                raise Deny(f"{name} holds work not merged into {context.overseer_branch}: "
                           "merge its PR or keep the branch")  # fmt: skip


def _unmerged_implementor(context: Context, name: str) -> bool:
    from .workflow import parse_branch

    parsed = parse_branch(context.config.branch_prefix, name)
    if parsed is None or parsed.role == "overseer":
        return False
    if context.vcs is None:
        return True
    tip = context.vcs.resolve(f"refs/heads/{name}")
    if tip is None:
        return False
    return not context.vcs.is_ancestor(tip, f"refs/heads/{context.overseer_branch}")


# ---------------------------------------------------------------------- gh
def check_gh(context: Context, args: list[Word]) -> None:
    if not context.implementor:
        return
    texts = [a.text for a in args]
    if texts[:2] == ["pr", "merge"]:
        raise Deny("implementors may not merge PRs; the overseer merges them")
    if texts[:1] == ["api"]:
        joined = " ".join(texts)
        method = _option_value(args, "-X") or _option_value(args, "--method")
        if (
            "/merge" in joined
            or "mergePullRequest" in joined
            or (method is not None and method.text.upper() == "PUT" and "pulls" in joined)
        ):
            raise Deny("implementors may not merge PRs (also not through gh api)")
        writing = method is not None and method.text.upper() in ("POST", "PATCH", "PUT", "DELETE")
        moves_refs = "/git/refs" in joined or "/branches/" in joined
        if (writing and moves_refs) or "updateRef" in joined or "deleteRef" in joined:
            raise Deny("implementors may not move branches on the server (gh api)")


# ---------------------------------------------------------------------- writes
def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _temporary(path: Path, root: Path) -> bool:
    """In a temporary directory, and not in the part of it the repository lives in (when
    the repository itself is under /tmp, its neighbourhood is not scratch space)."""
    for temp in {"/tmp", "/var/tmp", os.environ.get("TMPDIR", "/tmp")}:  # noqa: S108 - compared, not created
        base = Path(os.path.realpath(temp))
        if not _inside(path, base) or path == base:
            continue
        if _inside(root, base):
            own = root.relative_to(base).parts[0]
            if path.relative_to(base).parts[0] == own:
                return False
        return True
    return False


def write_target(context: Context, cwd: Path | None, target: str, how: str) -> None:
    if target in SAFE_WRITE_TARGETS:
        return
    path = _resolve(cwd, target)
    if path is None:
        _unanalysable(context, f"a write to {target} after a computed `cd`")
        return
    inside_root = _inside(path, context.root)
    for place in context.repository:
        if _inside(path, place) and not (inside_root and context.root in place.parents):
            raise Deny(
                f"{target} resolves to {path}, in another worktree or the git directory: "
                f"write only inside your worktree {context.root}"
            )
    if not inside_root and _temporary(path, context.root):
        return
    if not inside_root:
        raise Deny(f"{target} resolves to {path}, outside your worktree {context.root}")
    relative = path.relative_to(context.root).as_posix() if path != context.root else "."
    protected = list(PROTECTED_FILES)
    if context.implementor:
        protected.append(context.tasks_pattern)
    else:
        protected = [".git", ".git/**"]
    if matches(protected, relative):
        who = "implementors" if context.implementor else "the overseer"
        raise Deny(f"{target} resolves to {relative}, which {who} may not write ({how})")
    if not matches(context.write_paths, relative):
        raise Deny(
            f"{target} resolves to {relative}, outside the paths this role may write "
            f"({', '.join(context.write_paths)})"
        )


def check_write(context: Context, cwd: Path, path: str, tool: str) -> None:
    write_target(context, cwd, path, f"{tool} tool")


def check_writer(context: Context, name: str, args: list[Word], cwd: Path | None) -> None:
    texts = [a.text for a in args]
    if any(a.dynamic for a in args):
        _unanalysable(context, f"{name} with computed paths")
        return
    targets: list[str] = []
    files = [t for t in texts if not t.startswith("-")]
    if name == "tee" or name in ("rm", "rmdir", "touch", "mkdir", "truncate", "unlink"):
        targets = files
        if name == "truncate":
            targets = _positionals(args, {"-s", "--size", "-r", "--reference"})
    elif name in ("cp", "mv", "ln", "install", "rsync"):
        t_dir = _option_value(args, "-t")
        if t_dir is not None:
            targets = [t_dir.text]
        elif files:
            targets = [files[-1]]
    elif name == "dd":
        targets = [t[3:] for t in texts if t.startswith("of=")]
    elif name == "sed":
        if any(t == "-i" or t.startswith(("-i", "--in-place")) for t in texts):
            script_given = _option_value(args, "-e") is not None
            targets = files if script_given else files[1:]
    elif name == "perl":
        if any(t.startswith("-i") or (t.startswith("-") and "i" in t[1:]) for t in texts):
            targets = [t for t in files if not t.startswith("-")][1:]
    elif name in ("chmod", "chown"):
        targets = files[1:]
    elif name == "patch":
        _unanalysable(context, "patch (its target files are not on the command line)")
        return
    for target in targets:
        write_target(context, cwd, target, name)
