"""The ``sev1bot`` command line: one subcommand per job, each implemented in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sev1bot", description="Run incident playbooks in Mattermost.")
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines instead of text")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the bot against Mattermost (settings from the environment)")
    run.add_argument("--config", help="optional file of KEY=VALUE settings added to the environment")

    sub.add_parser("demo", help="play a scripted Sev 1 against the built-in sandbox server")

    sandbox = sub.add_parser("sandbox", help="start the Mattermost-compatible sandbox server")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8065)
    sandbox.add_argument("--seed", help="YAML or JSON file describing the team, users and bot to create")

    validate = sub.add_parser("validate", help="check playbook files and print a summary of each")
    validate.add_argument(
        "paths", nargs="*", default=["playbooks"], help="files or directories (default: playbooks)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "validate":
        from sev1bot.playbook.validate import main as validate_main

        return validate_main(args.paths)
    if args.command == "run":
        from sev1bot.service.main import run

        return run(args.config, args.log_json)
    if args.command == "sandbox":
        from sev1bot.sandbox.cli import main as sandbox_main

        return sandbox_main(args.host, args.port, args.seed)
    print(f"sev1bot: '{args.command}' is not available yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
