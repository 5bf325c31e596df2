"""The ``tact`` command: one typer app composed from each subsystem's commands.

Sub-apps are imported lazily per command group so that ``tact serve`` does not pay for
torch, and ``engine`` never has to import ``simulator`` or ``policies``.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

if sys.argv[1:2] == ["serve"]:
    # A reload request (SIGHUP) that arrives while the server is still importing and
    # loading must not end it (SIGHUP's default action); `tact serve` installs its reload
    # handler once the rules are loaded. Done before any heavy import, to keep the window
    # in which SIGHUP still kills a starting replica to the interpreter's own start-up.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

import typer

app = typer.Typer(
    name="tact",
    help="tact: the right collection step, at the right time, through the right channel.",
    no_args_is_help=True,
    add_completion=False,
)

# (module, attribute, group name or None to merge its commands at the top level)
_SUBAPPS: list[tuple[str, str, str | None]] = [
    ("engine.cli", "app", None),
    ("engine.rules_cli", "app", "rules"),
    ("simulator.cli", "app", None),
    ("policies.cli", "app", None),
    ("policies.benchmark_cli", "app", "benchmark"),
    ("policies.ope_cli", "app", None),
]


def _attach() -> None:
    for module_name, attribute, group in _SUBAPPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only tolerate the sub-app module itself being absent, never a broken import inside it.
            if exc.name == module_name:
                continue
            raise
        sub = getattr(module, attribute)
        if group is None:
            for command in sub.registered_commands:
                app.registered_commands.append(command)
            for group_info in sub.registered_groups:
                app.registered_groups.append(group_info)
        else:
            app.add_typer(sub, name=group)


def main() -> None:
    if not sys.stdout.isatty():
        # rich would squeeze tables to 80 columns in a pipe or a log file.
        os.environ.setdefault("COLUMNS", "200")
    _attach()
    app()
