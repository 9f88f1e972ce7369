"""``python -m agents.maddpg``: train MADDPG on any registered env through :mod:`agents.runner`.

    python -m agents.maddpg --env auction_envs/KellyGame-v0 \\
        --env-kwargs '{"n_agents": 3, "max_cycles": 1500}' --rounds 1500 \\
        --config '{"gamma": 0, "reward_scale": 0.01, "buffer_size": 256}' --eval-rounds 5

Prints the final training metrics and a greedy evaluation (``explore=False``; the env's
``metrics()`` after ``--eval-rounds`` rounds, e.g. ``env/nash_conv`` on the Kelly game) as JSON.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def main(argv: list[str] | None = None) -> None:
    import torch

    from agents.maddpg import MADDPG, MADDPGConfig
    from agents.runner import RunConfig, train

    parser = argparse.ArgumentParser(prog="python -m agents.maddpg", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="auction_envs/KellyGame-v0", help="registered env id")
    parser.add_argument("--env-kwargs", type=json.loads, default={}, help="JSON env arguments")
    parser.add_argument("--config", type=json.loads, default={},
                        help="JSON overrides of MADDPGConfig fields")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3000, help="training env steps")
    parser.add_argument("--eval-episodes", type=int, default=1)
    parser.add_argument("--eval-rounds", type=int, default=None, help="cap per evaluation episode")
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides: dict[str, Any] = dict(args.config)
    if "hidden_sizes" in overrides:
        overrides["hidden_sizes"] = tuple(overrides["hidden_sizes"])
    config = MADDPGConfig(**overrides)
    run = RunConfig(args.env, seed=args.seed, rounds=args.rounds, env_kwargs=args.env_kwargs,
                    eval_episodes=args.eval_episodes, eval_rounds=args.eval_rounds,
                    log_dir=args.log_dir, tensorboard=False, progress=not args.no_progress,
                    log_every=max(args.rounds // 100, 1))
    result = train(lambda env: MADDPG(env, config, seed=args.seed), run)
    print(json.dumps({"rounds": result["rounds"], "last": result["last_metrics"],
                      "eval": result["eval"][-1:], "config": config.to_dict()}, indent=1))


if __name__ == "__main__":
    main()
