"""Fixtures for end-to-end tests: a fresh sandbox, a temporary database, the shipped playbook sped up.

They are defined in harness.py and only imported here: mypy checks tests/ as one tree, where this file
would be a second module named ``conftest``, so pyproject.toml leaves it out. Define new fixtures there.
"""

from __future__ import annotations

from harness import bot, humans, playbook_dir

__all__ = ["bot", "humans", "playbook_dir"]
