"""``sev1bot run`` under yappi (CPU clock, every thread): ``python -m bench.yappi_bot OUT run``.

Used by ``python -m bench --profile-bot OUT``. yappi sees the store's worker threads, which py-spy's
``--gil`` mode and pyinstrument do not. It is not a project dependency: ``.venv/bin/pip install yappi``.
Function statistics, sorted by total time, are written to OUT when the bot exits.
"""

from __future__ import annotations

import atexit
import sys


def main() -> int:
    import yappi  # type: ignore[import-untyped, import-not-found, unused-ignore]

    out = sys.argv[1]

    def dump() -> None:
        yappi.stop()
        with open(out, "w") as stream:
            stats = yappi.get_func_stats()
            stats.sort("ttot")
            columns = {0: ("name", 100), 1: ("ncall", 10), 2: ("tsub", 9), 3: ("ttot", 9), 4: ("tavg", 9)}
            stats.print_all(out=stream, columns=columns)

    yappi.set_clock_type("cpu")
    atexit.register(dump)
    yappi.start(builtins=False, profile_threads=True)
    from sev1bot.cli import main as sev1bot

    return sev1bot(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
