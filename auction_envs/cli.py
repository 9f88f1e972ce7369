"""``auction-envs``: the command line of the suite.

    auction-envs list            registered ids with one-line descriptions
    auction-envs info ID         an env's documentation, agents and spaces
    auction-envs docs            write (or --check) one markdown page per env class
    auction-envs leaderboard     every learner on every market, ranked (see --help); needs the
                                 ``agents`` and ``benchmarks`` packages of this distribution
"""

from __future__ import annotations

import argparse
import inspect
import sys

import auction_envs
from auction_envs.registration import format_registry


def _info(env_id: str) -> str:
    spec = auction_envs.spec(env_id)
    env = spec.make()
    agent = env.possible_agents[0]
    lines = [
        spec.id,
        f"  {spec.description}",
        f"  entry point: {getattr(spec.entry_point, '__name__', spec.entry_point)}",
        f"  kwargs: {spec.kwargs}",
        f"  agents ({len(env.possible_agents)}): {', '.join(env.possible_agents[:6])}"
        + (" ..." if len(env.possible_agents) > 6 else ""),
        f"  action space ({agent}): {env.action_space(agent)}",
        f"  observation space ({agent}): {env.observation_space(agent)}",
        f"  state space: {getattr(env, 'state_space', None)}",
        "",
        inspect.getdoc(type(env.unwrapped)) or "",
    ]
    env.close()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["leaderboard"]:
        # lazy: the env package never imports the learners or the benchmarks unless asked to
        from benchmarks.leaderboard import main as leaderboard_main

        return leaderboard_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="auction-envs",
        description="Multi-agent auction and market environments (PettingZoo parallel API).",
        epilog="Benchmarks and paper reproductions run as `python -m benchmarks.<name> --help`; "
               "the quick run of every market is `python -m benchmarks.quick_run`.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the registered environment ids with descriptions")
    info = commands.add_parser("info", help="show an environment's documentation and spaces")
    info.add_argument("env_id", help="a registered id, e.g. auction_envs/KellyGame-v0")
    docs = commands.add_parser(
        "docs", help="write one documentation page per env class (auction_envs.env_docs)")
    docs.add_argument("--out", default="docs/envs", help="folder of the pages (default docs/envs)")
    docs.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 when a page differs from what the code generates")
    commands.add_parser("leaderboard", add_help=False,
                        help="run the (env x learner x seed) leaderboard; "
                             "`auction-envs leaderboard --help` for its options")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print(format_registry())
        elif args.command == "docs":
            from auction_envs.env_docs import build

            problems = build(args.out, check=args.check)
            for problem in problems:
                print(f"auction-envs docs: {problem}", file=sys.stderr)
            if problems:
                return 1
            if not args.check:
                print(f"wrote the env pages to {args.out}")
        else:
            print(_info(args.env_id))
    except auction_envs.EnvNotFoundError as error:
        print(f"auction-envs: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
