"""Train or evaluate any learner on any registered env: seeds, progress bar, evaluation, logs, checkpoints.

    from agents.runner import RunConfig, train, evaluate
    result = train(lambda env: NoRegretLearner(env, make_rule("OGD_F", horizon=3000)),
                   RunConfig("auction_envs/KellyGame-v0", seed=0, rounds=3000, log_dir="runs/ogd"))

The loop, per round: ``actions = learner.act(obs, explore=True)``, ``env.step(actions)``,
``learner.observe(Transition(...))`` with the env's terminations and truncations passed through
unchanged (a learner bootstraps through a truncation, never through a termination),
``learner.update()``; at the end of an episode ``learner.end_episode()`` and a reset with the next
seed (episode ``k`` is reset with ``seed + k``).

Outputs under ``log_dir``:

* ``progress.jsonl``: the run's record, append-only (:class:`agents.logging.ProgressLog`), one row
  every ``log_every`` rounds with the mean reward, the learner's metrics and the env's scalar
  ``metrics()``; evaluation rows are prefixed ``eval/``. Read it with
  :func:`agents.logging.read_progress`; ``progress.csv`` is its CSV export, rewritten atomically at
  the end of the run;
* TensorBoard event files (when ``torch.utils.tensorboard`` is importable);
* ``checkpoint-<rounds>.npz`` (the learner, via :func:`agents.base.save_state`: safe, RNG included)
  and ``runner.json`` (rounds and episodes done, and the name of that checkpoint), written in that
  order, each atomically; older checkpoints are removed after ``runner.json`` points past them. So a
  kill at any moment leaves ``runner.json`` naming a complete checkpoint.

``train(..., resume=True)`` reloads both and continues with a fresh episode: the learner resumes
exactly; the env, which has no checkpoint, restarts (a run whose checkpoints fall on episode
boundaries resumes into exactly the uninterrupted run). Rows the killed run logged after its last
checkpoint are superseded, never duplicated. A fresh run refuses a ``log_dir`` that already holds
one (pass ``resume=True`` or another folder): nothing recorded is ever overwritten.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import auction_envs
from agents.base import CheckpointError, Learner, Transition
from agents.logging import ProgressLog, TensorBoardLogger, export_csv, scalars

LearnerOrFactory = Learner | Callable[[Any], Learner]
EVAL_SEED_OFFSET = 1_000_003
RUNNER_FILE = "runner.json"
PROGRESS_FILE = "progress.jsonl"


def read_runner_state(log_dir: str | Path) -> dict[str, Any]:
    """``runner.json`` of a run folder, checked (a damaged file raises :class:`CheckpointError`)."""
    path = Path(log_dir) / RUNNER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"nothing to resume in {log_dir}: no {RUNNER_FILE}")
    try:
        state = json.loads(path.read_text())
        rounds, episodes = int(state["rounds"]), int(state["episodes"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(path, f"damaged runner state ({type(exc).__name__}: {exc})") from None
    checkpoint = Path(log_dir) / str(state.get("checkpoint", "checkpoint.npz"))
    return {**state, "rounds": rounds, "episodes": episodes, "checkpoint_path": checkpoint}


def _write_text_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(text)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@dataclass
class RunConfig:
    """Everything a run needs besides the learner."""

    env_id: str
    seed: int = 0
    rounds: int = 1000  #: training rounds (env steps) in total, across episodes
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_every: int = 0  #: rounds between evaluations (0: only at the end, if eval_episodes > 0)
    eval_episodes: int = 0
    eval_rounds: int | None = None  #: cap on the rounds of one evaluation episode
    log_dir: str | None = None
    log_every: int = 1
    checkpoint_every: int = 0  #: rounds between checkpoints (0: only at the end)
    tensorboard: bool = True
    progress: bool = True


def _make_learner(learner: LearnerOrFactory, env: Any) -> Learner:
    return learner if hasattr(learner, "act") else learner(env)


def _env_metrics(env: Any) -> dict[str, float]:
    metrics = getattr(getattr(env, "unwrapped", env), "metrics", None)
    if metrics is None:
        return {}
    try:
        return scalars(metrics(), "env/")
    except NotImplementedError:
        return {}


def play_episode(env: Any, learner: Learner, seed: int | None = None, *, explore: bool = True,
                 learn: bool = True, on_step: Callable[[Any], None] | None = None,
                 on_rewards: Callable[[dict[str, float]], None] | None = None) -> Any:
    """Play one whole episode of ``env`` with ``learner`` and return the env.

    With ``learn`` the learner observes every round and ``update()`` runs after each observation,
    as in :func:`train`; ``on_step(env)`` is called after every round (to read metrics) and
    ``on_rewards(rewards)`` with the round's reward dict (to sum returns).
    """
    observations, _ = env.reset(seed=seed)
    while env.agents:
        actions = learner.act(observations, explore=explore)
        next_observations, rewards, terminations, truncations, infos = env.step(actions)
        if on_rewards is not None:
            on_rewards(rewards)
        if learn:
            learner.observe(Transition(observations, actions, rewards, next_observations,
                                       terminations, truncations, infos))
            learner.update()
        observations = next_observations
        if on_step is not None:
            on_step(env)
    if learn:
        learner.end_episode()
    return env


def evaluate(learner: Learner, env_id: str, seed: int = 0, episodes: int = 1,
             env_kwargs: dict[str, Any] | None = None, max_rounds: int | None = None
             ) -> dict[str, float]:
    """Roll out ``learner`` greedily (``explore=False``, no learning) and average the results.

    Returns the mean episode return per agent (``return``), the number of rounds and the env's
    scalar metrics at the end of each episode, averaged over episodes.
    """
    env = auction_envs.make(env_id, **(env_kwargs or {}))
    totals: dict[str, list[float]] = {}
    for episode in range(episodes):
        observations, _ = env.reset(seed=seed + episode)
        episode_return, rounds = 0.0, 0
        while env.agents and (max_rounds is None or rounds < max_rounds):
            actions = learner.act(observations, explore=False)
            observations, rewards, _, _, _ = env.step(actions)
            episode_return += float(np.mean(list(rewards.values())))
            rounds += 1
        values = {"return": episode_return, "rounds": float(rounds), **_env_metrics(env)}
        for key, value in values.items():
            totals.setdefault(key, []).append(value)
    env.close()
    return {key: float(np.mean(value)) for key, value in totals.items()}


def train(learner: LearnerOrFactory, config: RunConfig, resume: bool = False) -> dict[str, Any]:
    """Train ``learner`` (or ``learner(env)`` for a factory) for ``config.rounds`` rounds.

    Returns ``{"learner", "rounds", "episodes", "last_metrics", "eval", "log_dir"}``.
    """
    env = auction_envs.make(config.env_id, **config.env_kwargs)
    agent_learner = _make_learner(learner, env)
    log_dir = Path(config.log_dir) if config.log_dir else None
    done_rounds, episode = 0, 0
    if resume:
        if log_dir is None:
            raise FileNotFoundError("resume=True needs config.log_dir")
        runner_state = read_runner_state(log_dir)
        agent_learner.load(runner_state["checkpoint_path"])
        done_rounds, episode = runner_state["rounds"], runner_state["episodes"]
    elif log_dir is not None and ((log_dir / RUNNER_FILE).exists() or (log_dir / PROGRESS_FILE).exists()):
        raise FileExistsError(f"{log_dir} already holds a run: pass resume=True to continue it, or "
                              "choose another log_dir (nothing recorded is overwritten)")
    loggers: list[Any] = []
    if log_dir is not None:
        loggers.append(ProgressLog(log_dir / PROGRESS_FILE, resume_from=done_rounds if resume else None))
        if config.tensorboard:
            loggers.append(TensorBoardLogger(log_dir / "tensorboard"))

    def log(step: int, values: dict[str, float]) -> None:
        for logger in loggers:
            logger.log(step, values)

    def checkpoint() -> None:
        if log_dir is None:
            return
        name = f"checkpoint-{done_rounds:012d}.npz"
        agent_learner.save(log_dir / name)  # complete before runner.json names it
        _write_text_atomic(log_dir / RUNNER_FILE, json.dumps(
            {"rounds": done_rounds, "episodes": episode, "env_id": config.env_id,
             "seed": config.seed, "checkpoint": name}))
        for old in log_dir.glob("checkpoint-*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def run_evaluation() -> dict[str, float]:
        result = evaluate(agent_learner, config.env_id, config.seed + EVAL_SEED_OFFSET,
                          config.eval_episodes, config.env_kwargs, config.eval_rounds)
        log(done_rounds, {f"eval/{k}": v for k, v in result.items()})
        return result

    bar = None
    if config.progress:
        try:
            from tqdm.auto import tqdm
            bar = tqdm(total=config.rounds, initial=done_rounds, desc=config.env_id, leave=False)
        except ImportError:  # pragma: no cover - tqdm is in the extras
            bar = None

    finished_before = done_rounds >= config.rounds  # resuming a finished run adds nothing
    observations, _ = env.reset(seed=config.seed + episode)
    last_metrics: dict[str, float] = {}
    evaluations: list[dict[str, float]] = []
    while done_rounds < config.rounds:
        actions = agent_learner.act(observations, explore=True)
        next_observations, rewards, terminations, truncations, infos = env.step(actions)
        agent_learner.observe(Transition(observations, actions, rewards, next_observations,
                                         terminations, truncations, infos))
        learner_metrics = agent_learner.update()
        done_rounds += 1
        observations = next_observations
        if done_rounds % max(config.log_every, 1) == 0:
            last_metrics = {"reward": float(np.mean(list(rewards.values()))),
                            **scalars(learner_metrics, "learner/"), **_env_metrics(env)}
            log(done_rounds, last_metrics)
        if not env.agents:  # every agent terminated or was truncated
            agent_learner.end_episode()
            episode += 1
            observations, _ = env.reset(seed=config.seed + episode)
        if config.eval_episodes and config.eval_every and done_rounds % config.eval_every == 0:
            evaluations.append(run_evaluation())
        if config.checkpoint_every and done_rounds % config.checkpoint_every == 0:
            checkpoint()
        if bar is not None:
            bar.update(1)
            if "env/residual" in last_metrics:
                bar.set_postfix(residual=f"{last_metrics['env/residual']:.2e}", refresh=False)
    if bar is not None:
        bar.close()
    if config.eval_episodes and not finished_before and not (
            config.eval_every and evaluations and done_rounds % config.eval_every == 0):
        evaluations.append(run_evaluation())
    if not finished_before:
        checkpoint()
    for logger in loggers:
        logger.close()
    if log_dir is not None:
        export_csv(log_dir / PROGRESS_FILE, log_dir / "progress.csv")
    env.close()
    return {"learner": agent_learner, "rounds": done_rounds, "episodes": episode,
            "last_metrics": last_metrics, "eval": evaluations,
            "log_dir": str(log_dir) if log_dir else None}


NO_REGRET_RULES = ("BR", "OGD_F", "OGD_V", "DAQ_F", "DAQ_V", "RRM_F", "RRM_V", "Hedge", "EXP3")


def _fitting(env_id: str) -> str:
    from agents.registry import learners_for

    names = [spec.name for spec in learners_for(env_id)]
    return (f"learners that fit {env_id}: {', '.join(names)}" if names else
            f"no registered learner fits {env_id} (agents.registry.register_learner adds one)")


def learner_factory(env_id: str, name: str, seed: int = 0, options: dict[str, Any] | None = None,
                    G: float = 1.0, horizon: int | None = None
                    ) -> tuple[Callable[[Any], Learner], dict[str, Any]]:
    """``(factory(env) -> learner, env kwargs the learner needs)`` for the learner ``name``.

    ``name`` is a registered learner (``agents.registry``; its market defaults updated by
    ``options``) or a no-regret rule of :data:`NO_REGRET_RULES` (Kelly ids). A learner that
    does not fit ``env_id`` raises ``ValueError`` naming the learners that do.
    """
    from agents.registry import get_learner, learner_registry, market_of

    auction_envs.spec(env_id)  # an unknown id fails here, with the closest ids
    registry = learner_registry()
    if name in registry:
        spec = get_learner(name)
        if not spec.fits(env_id):
            raise ValueError(f"learner {name!r} does not fit {env_id} (it fits "
                             f"{', '.join(sorted(spec.markets))}); {_fitting(env_id)}")
        learner_options, env_kwargs = spec.options(env_id, **(options or {}))
        return (lambda env: spec.make(env, seed, **learner_options)), env_kwargs
    if name in NO_REGRET_RULES:
        if not market_of(env_id).startswith("auction_envs/KellyGame"):
            raise ValueError(f"the no-regret rule {name!r} plays the Kelly games only; "
                             f"{_fitting(env_id)}")
        from agents.no_regret import NoRegretLearner, make_rule

        def factory(env: Any) -> Learner:
            rounds = horizon or getattr(getattr(env, "unwrapped", env), "max_cycles", 1000)
            return NoRegretLearner(env, make_rule(name, G=G, horizon=rounds, **(options or {})),
                                   seed=seed)

        env_kwargs = {"counterfactual_grid": 64} if name == "Hedge" else {}
        return factory, env_kwargs
    raise ValueError(f"no learner {name!r}: registered learners are {', '.join(sorted(registry))}"
                     f"; no-regret rules are {', '.join(NO_REGRET_RULES)}; {_fitting(env_id)}")


def main(argv: list[str] | None = None) -> None:
    """``python -m agents.runner --env ID --learner NAME --rounds N --log-dir runs/x``

    Trains a learner on a registered env and prints the final metrics; ``--resume`` continues a
    run from its log folder. NAME is any learner of the registry (``--list`` shows each with the
    markets it fits; ``--list --env ID`` those that fit ID) or a no-regret rule (BR, OGD_F, OGD_V,
    DAQ_F, DAQ_V, RRM_F, RRM_V, Hedge, EXP3) on the Kelly games.
    """
    import argparse

    from agents.registry import learner_registry, learners_for

    parser = argparse.ArgumentParser(prog="python -m agents.runner", description=main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="auction_envs/KellyGame-v0", help="a registered id")
    parser.add_argument("--learner", default="BR", help="a registered learner or no-regret rule")
    parser.add_argument("--list", action="store_true",
                        help="list the registered learners (with --env: those that fit it)")
    parser.add_argument("--options", type=json.loads, default={}, metavar="JSON",
                        help="learner options over the market's defaults, e.g. '{\"lr\": 0.01}'")
    parser.add_argument("--G", type=float, default=1.0, help="no-regret rules: gradient bound")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--env-kwargs", type=json.loads, default={}, metavar="JSON")
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=1)
    parser.add_argument("--eval-rounds", type=int, default=None)
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--no-tensorboard", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        explicit = any(a == "--env" or a.startswith("--env=") for a in (argv or sys.argv[1:]))
        specs = learners_for(args.env) if explicit else list(learner_registry().values())
        for spec in specs:
            print(f"{spec.name:24s} {spec.kind:9s} {', '.join(sorted(spec.markets))}")
        if explicit and not specs:
            print(_fitting(args.env))
        return
    try:
        factory, learner_env_kwargs = learner_factory(args.env, args.learner, args.seed,
                                                      args.options, args.G)
    except (ValueError, auction_envs.EnvNotFoundError) as error:
        parser.error(str(error))
    config = RunConfig(args.env, seed=args.seed, rounds=args.rounds,
                       env_kwargs={**learner_env_kwargs, **args.env_kwargs},
                       eval_every=args.eval_every, eval_episodes=args.eval_episodes,
                       eval_rounds=args.eval_rounds, log_dir=args.log_dir,
                       checkpoint_every=args.checkpoint_every,
                       tensorboard=not args.no_tensorboard)
    result = train(factory, config, resume=args.resume)
    print(json.dumps({"rounds": result["rounds"], "last": result["last_metrics"],
                      "eval": result["eval"][-1:]}, indent=1))


if __name__ == "__main__":
    main()
