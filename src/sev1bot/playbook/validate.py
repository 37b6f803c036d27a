"""``sev1bot validate [PATH...]``: check playbook files, print every problem or a one-line summary of each.

Problems go to stderr as ``file:line:column: message`` (the form editors and CI annotations understand) and
the exit status is 1; when every file is valid each playbook gets one line on stdout and the status is 0.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sev1bot.playbook.loader import LoadedPlaybook, PlaybookError, load_playbook_files

DEFAULT_PATHS = ("playbooks",)


def main(paths: Sequence[str]) -> int:
    """Validate the given files and directories (default: ``playbooks``); return the exit status."""
    try:
        loaded = load_playbook_files(list(paths) or list(DEFAULT_PATHS))
    except PlaybookError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    for entry in loaded.values():
        print(summary(entry))
    return 0


def summary(entry: LoadedPlaybook) -> str:
    """E.g. ``mme-sev1: MME Sev 1 Outages — 8 stages, 40 items, 4 roles (playbooks/mme-sev1.yaml)``."""
    playbook = entry.playbook
    counts = ", ".join(
        _count(number, noun)
        for number, noun in (
            (len(playbook.stages), "stage"),
            (len(playbook.keys()), "item"),
            (len(playbook.roles), "role"),
        )
    )
    return f"{playbook.id}: {playbook.title} — {counts} ({entry.file})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
