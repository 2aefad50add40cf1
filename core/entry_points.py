"""Reading entry points: this distribution's own ``claude_orchestrator`` entry points
(the built-in plugins) from its ``entry_points.txt`` alone, without importing
:mod:`importlib.metadata` or listing other distributions (the guard builds a plugin
registry on every tool call), and loading what an entry point names."""

import functools
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NamedTuple

from . import __version__
from .config_defaults import DISTRIBUTION
from .errors import PluginError

ENTRY_POINT_GROUP = "claude_orchestrator"
#: This release's metadata directory (its name is fixed by the wheel specification).
DIST_INFO = f"{DISTRIBUTION.replace('-', '_')}-{__version__}.dist-info"


class EntryPoint(NamedTuple):
    """One ``name = value`` line of an entry-point group (``value``: ``module[:attr]``)."""

    name: str
    value: str


def entry_points_in(text: str, group: str) -> list[EntryPoint]:
    """The entries of ``[group]`` in an ``entry_points.txt``, read by the rules
    :mod:`importlib.metadata` reads it by (stripped lines, ``#`` comments, ``=``)."""
    found: list[EntryPoint] = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif line and not line.startswith("#") and section == group:
            name, _, value = line.partition("=")
            found.append(EntryPoint(name.strip(), value.strip()))
    return found


def builtin_entry_points(
    path: Sequence[str] | None = None, *, beside: str | None = None
) -> list[EntryPoint]:
    """This distribution's ``claude_orchestrator`` entry points: the built-in plugins.

    Looks for :data:`DIST_INFO` in each ``path`` entry (default ``sys.path``), first
    found wins, as :mod:`importlib.metadata` does, but without importing it (~15 ms) or
    listing other distributions; other layouts (zip files, eggs) fall back to it.
    """
    # A regular install keeps the dist-info beside the package (``beside``): there first,
    # so a second copy earlier on sys.path cannot lend its metadata to this code.
    if path is None:
        path = [beside or os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *sys.path]
    elif beside:
        path = [beside, *path]
    for entry in path:
        try:
            with open(os.path.join(entry or ".", DIST_INFO, "entry_points.txt"), "rb") as file:
                found = entry_points_in(file.read().decode("utf-8"), ENTRY_POINT_GROUP)
                break
        except OSError:
            continue
    else:
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            eps = distribution(DISTRIBUTION).entry_points.select(group=ENTRY_POINT_GROUP)
            found = [EntryPoint(ep.name, ep.value) for ep in eps]
        except PackageNotFoundError:
            found = []
    found.sort(key=lambda ep: ep.name)  # name order, whatever order the file has
    if not found:
        raise PluginError(f"the installed {DISTRIBUTION} names no built-in plugins (its "
                          "metadata predates them): reinstall it")  # fmt: skip
    return found


def _load(value: str) -> object:
    """What an entry point's value names: a module, or an attribute of one."""
    module_name, _, attribute = value.partition("[")[0].partition(":")
    module: object = importlib.import_module(module_name.strip())
    return functools.reduce(getattr, filter(None, attribute.strip().split(".")), module)
