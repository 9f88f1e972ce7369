"""How much a slicer can learn of its own move from the shared welfare reward (paper 002, IoV).

The IoV slicers share one reward, the welfare of the round. A learner whose critic sees only its
own action (independent learners, DVCG-MARL) or its own action and the others' mean action
(mean-field, DVCG-MFMARL) must tell its own move's effect apart from the others' simultaneous
moves. This script measures how well that can go at all, with an *ideal* estimator: at the uniform
split of a fixed market (``IoVSlicingLearned-v1``, ``instance_seed``), every round each slicer
explores with probability ``p`` (a uniform level on each of its three resources, else no change),
and the welfare gain of the round is credited to every slicer's chosen level, per resource (the
sample mean of the reward given one's own level: what a tabular independent learner converges to
at this state). After ``rounds`` rounds it compares, per slicer and resource, the level with the
best estimate with the truly best single move (computed from the market), and reports

* ``agreement``: the share of (slicer, resource) whose estimated best level is the true best;
* ``regret``: the welfare the estimated best levels lose against the true best single moves,
  summed over slicers and resources, as a share of what the true best moves gain.

For comparison, the same data fitted *centrally*: least squares of the round's gain on the
indicators of every (slicer, resource, level) of the joint action (what a critic reading the joint
action, like MADDPG's, can learn), whose coefficients are each slicer's own moves' effects with the
others' moves accounted for (``central_agreement``, ``central_regret``; with fewer rounds than
indicators the fit is the minimum-norm one).

    python -m benchmarks.iov_credit --n 10 --seeds 5 --json docs/results/iov_credit.json
"""

from __future__ import annotations

from typing import Any

import numpy as np

import auction_envs
from benchmarks.common import IncrementalResults, add_output_arguments, benchmark_parser

ENV_ID = "auction_envs/IoVSlicingLearned-v1"


def market(n: int, seed: int) -> tuple[np.ndarray, Any]:
    """``gains[i, k, level]`` of every single move from the uniform split
    (:func:`benchmarks.reproduce_dvcg.single_move_gains`), and the welfare gain of a joint level
    choice ``[n, 3]`` from the uniform split (the env's capped action rule)."""
    from auction_envs.oracles.slicing import slicing_utility
    from benchmarks.reproduce_dvcg import capped_proposal, single_move_gains

    env = auction_envs.make(ENV_ID, n_vsps=n, instance_seed=seed, max_cycles=1)
    env.reset(seed=seed)
    base = env.unwrapped
    uniform = np.full((n, 3), 1.0 / n)
    reference = slicing_utility(uniform, base.beta, base.xi).sum()

    def gain(chosen: np.ndarray) -> float:
        return float(slicing_utility(capped_proposal(uniform, chosen), base.beta, base.xi).sum()
                     - reference)

    return single_move_gains(uniform, base.beta, base.xi), gain


def credit_cell(n: int, seed: int, probability: float, rounds: int) -> dict[str, float]:
    """One (market, exploration probability, rounds) measurement (see the module docstring)."""
    gains, gain = market(n, seed)
    levels = gains.shape[-1]
    no_change = levels // 2
    rng = np.random.default_rng(seed)
    total = np.zeros_like(gains)
    count = np.zeros_like(gains)
    rows, resources = np.arange(n)[:, None], np.arange(3)[None, :]
    indicators = np.zeros((rounds, n, 3, levels))
    rewards = np.zeros(rounds)
    for t in range(rounds):
        chosen = np.full((n, 3), no_change)
        exploring = rng.random(n) < probability
        chosen[exploring] = rng.integers(0, levels, (int(exploring.sum()), 3))
        rewards[t] = gain(chosen)
        total[rows, resources, chosen] += rewards[t]
        count[rows, resources, chosen] += 1
        indicators[t, rows, resources, chosen] = 1.0
    independent = np.where(count > 0, total / np.maximum(count, 1), -np.inf)
    moved = np.delete(indicators, no_change, axis=-1).reshape(rounds, -1)  # no change = 0
    coefficients = np.linalg.lstsq(moved, rewards, rcond=None)[0].reshape(n, 3, levels - 1)
    central = np.insert(coefficients, no_change, 0.0, axis=-1)
    best = gains.max(axis=-1)

    def score(estimate: np.ndarray) -> tuple[float, float]:
        picked = estimate.argmax(axis=-1)
        achieved = np.take_along_axis(gains, picked[..., None], axis=-1)[..., 0]
        return (float((picked == gains.argmax(axis=-1)).mean()),
                float((best - achieved).sum() / max(best.sum(), 1e-12)))

    agreement, regret = score(independent)
    central_agreement, central_regret = score(central)
    return {"agreement": agreement, "regret": regret, "central_agreement": central_agreement,
            "central_regret": central_regret, "best_gain": float(best.sum())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__, "python -m benchmarks.iov_credit")
    parser.add_argument("--n", type=int, default=10, help="VSPs (default 10)")
    parser.add_argument("--seeds", type=int, default=5, help="markets (default 5)")
    parser.add_argument("--probabilities", type=float, nargs="+", default=[1.0, 0.3, 0.1],
                        help="exploration probabilities per slicer and round")
    parser.add_argument("--rounds", type=int, nargs="+", default=[300, 3000],
                        help="rounds of data at the uniform split (300 = 10 episodes of 30)")
    add_output_arguments(parser, png=False)
    args = parser.parse_args(argv)
    if not 2 <= args.n <= 50 or args.seeds < 1 or min(args.rounds) < 1 or not all(
            0.0 < p <= 1.0 for p in args.probabilities):
        parser.error("need 2 <= --n <= 50, --seeds >= 1, --rounds >= 1, probabilities in (0, 1]")
    results = IncrementalResults(args.json, {"n": args.n, "seeds": args.seeds, "rows": []})
    print(f"Ideal independent credit at the uniform split, N = {args.n}, {args.seeds} markets "
          "(mean ± sd over markets)")
    print(f"{'p explore':>10} {'rounds':>7} {'agreement':>16} {'regret':>16} "
          f"{'central agreement':>18} {'central regret':>16}")
    for probability in args.probabilities:
        for rounds in args.rounds:
            cells = [credit_cell(args.n, seed, probability, rounds) for seed in range(args.seeds)]
            row: dict[str, Any] = {"probability": probability, "rounds": rounds}
            text = f"{probability:>10.2f} {rounds:>7d}"
            for name in ("agreement", "regret", "central_agreement", "central_regret"):
                values = np.array([c[name] for c in cells])
                row[name] = values.tolist()
                text += f" {values.mean():>{10 if name.startswith('central') else 8}.3f} ± " \
                        f"{values.std():.3f}"
            results.add(row, key="rows")
            print(text)
    print("agreement 1 and regret 0 = every slicer finds its best single move from the shared "
          "reward; 'agreement'/'regret': the per-slicer sample means (what an independent "
          "learner's critic converges to at this state); 'central': an additive least-squares "
          "fit on the joint action (the moves interact through the capacity cap, so additivity "
          "is itself an approximation)")
    return results.payload


if __name__ == "__main__":
    main()
