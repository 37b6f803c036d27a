"""The sandbox answers only with error ids the real server uses (``error_ids.ERROR_IDS``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import sev1bot.sandbox
from sev1bot.sandbox.error_ids import ERROR_IDS, SANDBOX_IDS

SANDBOX_SRC = Path(sev1bot.sandbox.__file__).parent
# what an AppError id looks like: dotted lowercase words under the server's prefixes (or the sandbox's own)
ID_SHAPE = re.compile(r"^(api|app|model|store|web|ent|plugin|sandbox)\.[a-z0-9_]+(\.[a-z0-9_]+)+$")


def written_ids() -> dict[str, str]:
    """Every string in the sandbox's source shaped like an error id, with where it is."""
    found: dict[str, str] = {}
    for path in sorted(SANDBOX_SRC.glob("*.py")):
        if path.name == "error_ids.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ID_SHAPE.match(node.value):
                found.setdefault(node.value, f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.JoinedStr):
                head = node.values[0] if node.values else None
                prefix = str(head.value) if isinstance(head, ast.Constant) else ""
                if re.match(r"^(api|app|model|store|web)\.", prefix):
                    found.setdefault(f"<f-string {prefix}...>", f"{path.name}:{node.lineno}")
    return found


def test_the_sandbox_writes_no_error_id_outside_the_table() -> None:
    found = written_ids()
    assert len(found) > 40, "the scan found almost nothing: has the sandbox moved?"
    unknown = {i: where for i, where in found.items() if i not in ERROR_IDS and i not in SANDBOX_IDS}
    assert not unknown, (
        "error ids written in the sandbox but not in error_ids.ERROR_IDS (with the server file that raises "
        f"them), or built at run time where nothing can check them: {unknown}"
    )


def test_every_id_in_the_table_is_used_and_names_its_server_file() -> None:
    found = written_ids()
    assert sorted(set(ERROR_IDS) - set(found)) == [], "ids in the table nothing uses: remove them"
    for error_id, source in ERROR_IDS.items():
        assert ID_SHAPE.match(error_id) and not error_id.startswith("sandbox."), error_id
        assert re.match(r"^(channels|public)/[a-z0-9_/]+\.go \(.+\)$", source), (error_id, source)
