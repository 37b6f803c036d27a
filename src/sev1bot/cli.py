"""The ``sev1bot`` command line: one subcommand per job, each implemented in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from sev1bot import logs


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 2 or 0.5, got {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


_Command = Callable[[str, str, str], argparse.ArgumentParser]  # (name, summary, description) -> subparser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sev1bot",
        description="Run incident playbooks in Mattermost.",
        epilog="Run 'sev1bot COMMAND --help' for the options of a command.",
    )
    # --log-json works before or after the command: the subcommands' copy only sets it when given.
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines instead of text")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-json", action="store_true", default=argparse.SUPPRESS, help="log as JSON lines instead of text"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description, parents=[common])

    _add_run(command)
    _add_demo(command)
    _add_sandbox(command)
    _add_validate(command)
    return parser


def _add_run(command: _Command) -> None:
    run = command(
        "run",
        "run the bot against Mattermost (settings from the environment)",
        "Connect to Mattermost, register /sev1 and serve incidents until SIGINT or SIGTERM. Settings come "
        "from MATTERMOST_* and SEV1BOT_* environment variables (see the README's Configuration).",
    )
    run.add_argument("--config", help="optional file of KEY=VALUE settings added to the environment")


def _add_demo(command: _Command) -> None:
    demo = command(
        "demo",
        "play a scripted Sev 1 against the built-in sandbox server",
        "Start the sandbox and the bot on free local ports with a temporary database, play a scripted Sev 1 "
        "on the shipped mme-sev1 playbook with its clock compressed to seconds, and show the incident "
        "channel as it unfolds. Needs no Mattermost server.",
    )
    demo.add_argument(
        "--speed",
        type=_positive,
        default=1.0,
        metavar="X",
        help="play X times faster (default 1: about 25 s; escalation and deadlines stay at least 1 s)",
    )
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="afterwards keep the sandbox and bot running and print the URL and tokens, until Ctrl-C",
    )
    demo.add_argument("-v", "--verbose", action="store_true", help="show the bot's log (INFO) on stderr")
    demo.add_argument(
        "--seed", metavar="FILE", help="sandbox seed file (as for 'sev1bot sandbox'), e.g. to fix the tokens"
    )


def _add_sandbox(command: _Command) -> None:
    sandbox = command(
        "sandbox",
        "start the Mattermost-compatible sandbox server",
        "Serve a Mattermost-compatible API and websocket in memory, for trying the bot without a server. "
        "Prints the URL, the team and every user's token.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8065, help="port to listen on (default 8065)")
    sandbox.add_argument("--seed", help="YAML or JSON file describing the team, users and bot to create")


def _add_validate(command: _Command) -> None:
    validate = command(
        "validate",
        "check playbook files and print a summary of each",
        "Load playbooks as the bot would and report every problem with its file, line and column.",
    )
    validate.add_argument(
        "paths", nargs="*", default=["playbooks"], help="files or directories (default: playbooks)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("sandbox", "validate"):  # run and demo configure logging themselves
        logs.configure("INFO" if args.command == "sandbox" else "WARNING", args.log_json)
    if args.command == "validate":
        from sev1bot.playbook.validate import main as validate_main

        return validate_main(args.paths)
    if args.command == "run":
        from sev1bot.service.main import run

        return run(args.config, args.log_json)
    if args.command == "sandbox":
        from sev1bot.sandbox.cli import main as sandbox_main

        return sandbox_main(args.host, args.port, args.seed)
    if args.command == "demo":
        from sev1bot.demo.runner import Options
        from sev1bot.demo.runner import main as demo_main

        return demo_main(Options(args.speed, args.keep_running, args.seed, args.verbose, args.log_json))
    print(f"sev1bot: unknown command {args.command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
