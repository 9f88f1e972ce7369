"""Paper 002 (DVCG) reproduction: learned network slicing against QVCG, the uniform split and the optimum.

Paper 002 trains one NSP slicing agent per VSP with mean-field actor-critic (DVCG-MFMARL) and
claims (MARKETS §3, issue 15): (1) learned slicers come close to the optimal social welfare at every
N = 10..50, with DVCG-MFMARL and DVCG-MADDPG above QVCG-0.05 (which reaches about 99.8% of the
optimum); (2) mean-field learning converges faster than MADDPG as N grows. The must-show of issue 15
is at least 95% of the optimal welfare with learned slicers at N = 10.

Setup (``auction_envs/IoVSlicingLearned-v1``, v1 defaults: relative perturbation, capped slicer
actions). The market is fixed per seed (``instance_seed = seed``, as in the paper's training); the
slicers start every episode from the uniform split ``1/N``. Bidders: under the welfare reward the
VSPs bid truthfully (``x_i = u_i(s*_i)``, the env's equilibrium); under the paper's reward (27)
(``slicer_reward="bids"``, the sum of bids) they bid their last round's utility (truthful about
what they got; the first round truthfully), because with equilibrium bids the bids reward is a
constant and carries no signal (issue 15). Neither bidder is perturbed (``sum x <= SW*``).

Methods, each trained ``episodes`` episodes of ``episode_rounds`` rounds per seed, then played
greedily (no exploration) for one episode of ``episode_rounds`` rounds (all learners: gamma 0.9,
rewards scaled by 1/20, batch 128, Adam 1e-3, tau 0.005 (mean field) / 0.01 (MADDPG)):

* ``DVCG-MFMARL``: :class:`agents.mean_field.MFAC` (the paper's mean-field actor-critic) on the
  slicers, one network shared by the slicers (their observation carries their VSP's id), the mean
  field = the others' one-hot actions of the round;
* ``DVCG-MARL``: the same learner without the mean field (independent learners);
* ``DVCG-MADDPG``: :class:`agents.maddpg.MADDPG` (a centralized critic shared by the slicers with an
  agent-id input) through a Box adapter: each slicer's ``[-1, 1]^3`` action is rounded to the
  nearest of the 7 levels;
* ``DVCG-MFDDPG``: :class:`agents.mean_field.MFDDPG` (deterministic mean-field actor-critic) through
  the same Box adapter, a one-hot agent id, gamma 0 and the reward as the difference to the
  previous round's (``reward_baseline="previous"``): the mean-field learner that leaves the
  uniform split (MF-AC's shared actor collapses to one common level that the capped action
  cancels; docs/results/dvcg_mf_diagnosis.txt);
* ``SB3-PPO``: off-the-shelf Stable-Baselines3 PPO with parameter sharing over the slicers
  (SuperSuit through :func:`auction_envs.wrappers.sb3.sb3_vec_env`; the VSPs bid by the same rule
  through :class:`auction_envs.wrappers.scripted.ScriptedAgents`), SB3 defaults except rollouts of
  4 episodes and minibatches of 30 N rows (the budget is small), ``ppo_steps`` slicer-steps
  (``--quick`` 48k, the learners' 160 episodes x 30 rounds x 10 slicers; full 150k), evaluated
  greedily (deterministic) like the learners;
* ``hill-climb``: the scripted coordinate search of :mod:`agents.baselines.hill_climb_slicer`
  (checks that the market is learnable through the slicers' actions and that the reward points the
  way the metric does), run for the same number of rounds as the learners' training;
* ``myopic oracle``: every round each slicer plays its best single move assuming the others stay
  put, computed from the true market (it reads beta and xi): what the slicers' action interface
  allows within one episode of ``episode_rounds`` rounds, a target for the learned slicers;
* references on the same market: ``QVCG-0.05`` (exact integer program, M = 20, truthful reports),
  ``QVCG-0.01`` (M = 100: the exact program is out of reach, 10^6 grid points per VSP; we report a
  *lower bound*, the optimum rounded to the 0.01 grid by largest remainders, feasible for QVCG's
  program, so QVCG-0.01 is between it and 1), the ``uniform`` split, and the ``optimum`` (1).

Efficiency = welfare / optimal welfare, averaged over the last ``tail`` rounds of the greedy
episode. Convergence curves: the greedy efficiency every ``eval_every`` training episodes against
episodes and training wall-clock seconds. Statistics: means with 95% t-intervals over seeds;
comparisons paired per seed (t-interval of the per-seed difference). Every cell records its own
CPU and wall seconds (``cost``); the report prints their sums and ``sum of cell CPU / workers``,
the run's wall time on idle cores (the measure on a shared machine).

``--quick`` (a smoke-level reproduction: 4.6 min on 2 idle cores with ``--workers 2``,
``docs/results/quick_wall_times.txt``; the full mode carries the results): N = 10 only, the
welfare reward only,
DVCG-MFMARL (the paper's learner), DVCG-MFDDPG and DVCG-MADDPG (the two that learn here), SB3-PPO,
5 seeds, 160 training episodes, curves every 20 episodes, and every reference (uniform,
QVCG-0.05, QVCG-0.01 bound, hill-climb, myopic oracle). What it shows: the references, MF-AC
staying at the uniform split, MF-DDPG near the 95% target (0.955 at episode 160 in the stored
300-episode run's curves) and MADDPG's slicers climbing above the uniform split on most seeds
(the stored 600-episode run passes 0.92 of the optimum at 160 episodes and 0.95 at 300); it
leaves out DVCG-MARL,
the bids reward (27) and N > 10 (``--methods``, ``--rewards``, ``--n`` add them). The full mode:
N = 10..50 under both rewards, every method, 5 seeds, 300 episodes, curves at N = 10 and 30.
Neither is the paper's budget (1000 episodes); the table says so. The 95% claim holds when the
lower end of the mean efficiency's 95% interval over seeds is at least 0.95 (:func:`reaches_target`;
the count of seeds at 95% is printed beside it).

    python -m benchmarks.reproduce_dvcg --quick --workers 2 --restart \\
        --json docs/results/dvcg_quick.json --png docs/figures/dvcg_quick.png
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from scipy import stats

import auction_envs
from agents.base import Transition
from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    run_jobs,
    save_figure,
)

ENV_ID = "auction_envs/IoVSlicingLearned-v1"
#: DVCG-MFDDPG's default Adam rate (``--mfddpg-lr``): 1e-3 peaks near 0.97 and drifts to 0.930 by
#: episode 300; 3e-4 gives 0.955 at episode 160 and 0.9565 at 300 (5/5 >= 0.95; the curves in
#: docs/results/dvcg_n10_mfddpg_lr3e-4_welfare_300.txt)
MFDDPG_LR = 3e-4
#: cells stored while the default was 1e-3 carry no rate in their key: any other rate is keyed
KEYLESS_MFDDPG_LR = 1e-3
LEARNED = ("DVCG-MFMARL", "DVCG-MARL", "DVCG-MADDPG", "DVCG-MFDDPG", "SB3-PPO")
REWARDS = ("welfare", "bids")
TARGET = 0.95
PAPER_EPISODES = 1000  #: training episodes in paper 002
QVCG_CLAIM = 0.998


@dataclass(frozen=True)
class Budget:
    """How much each mode runs."""

    ns: tuple[int, ...]
    curve_ns: tuple[int, ...]
    seeds: int
    episodes: int
    episode_rounds: int
    eval_every: int
    tail: int
    maddpg_ns: tuple[int, ...]
    bids_ns: tuple[int, ...]  #: the N at which the bids reward (27) is also trained
    ppo_steps: int  #: SB3 PPO slicer-steps per run (N slicer-steps per round)
    eval_points: int  #: PPO greedy evaluations along training (its curve)
    methods: tuple[str, ...] = LEARNED  #: the learned slicers trained (``--methods``)
    rewards: tuple[str, ...] = REWARDS  #: the slicer rewards trained under (``--rewards``)
    mfddpg_lr: float = MFDDPG_LR  #: DVCG-MFDDPG's Adam rate, critic and actor (``--mfddpg-lr``)


#: [decision] the quick mode keeps 5 seeds and the full set-up, and spends its ~25 CPU-minutes
#: on the learners the claims are about (MADDPG is 1.4 CPU-s per episode at N = 10, MF-AC 0.27,
#: MF-DDPG ~0.17) for long enough that MADDPG and MF-DDPG leave the uniform split; the alternative
#: (every method, N = 10 and 20, 40 episodes) showed no learner above uniform.
QUICK = Budget(ns=(10,), curve_ns=(10,), seeds=5, episodes=160, episode_rounds=30,
               eval_every=20, tail=10, maddpg_ns=(10,), bids_ns=(10,),
               ppo_steps=48_000,  # the learners' slicer-steps: 160 episodes x 30 rounds x 10
               eval_points=2, methods=("DVCG-MFMARL", "DVCG-MFDDPG", "DVCG-MADDPG", "SB3-PPO"),
               rewards=("welfare",))
FULL = Budget(ns=(10, 20, 30, 40, 50), curve_ns=(10, 30), seeds=5, episodes=300, episode_rounds=30,
              eval_every=20, tail=10, maddpg_ns=(10, 20, 30, 40, 50), bids_ns=(10, 20, 30, 40, 50),
              ppo_steps=150_000, eval_points=10)


# ---------------------------------------------------------------------------- bidders
def truthful_bids(base: Any) -> dict[str, np.ndarray]:
    """The equilibrium bids ``u_i(s*_i)`` (constant over an episode on a fixed market)."""
    return {a: np.array([x], dtype=np.float32) for a, x in zip(base.vsps, base.equilibrium()["bids"])}


class TruthfulBidders:
    """VSPs that bid ``u_i(s*_i)`` every round (the welfare reward's bidders); the policy
    protocol of :class:`auction_envs.wrappers.scripted.ScriptedAgents`."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def reset(self) -> None:
        """Nothing to forget."""

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return truthful_bids(self.base)


class LastUtilityBidders:
    """VSPs that bid their last round's utility (the first round of an episode: the truthful bid).

    Under the bids reward (27) this makes the slicers' reward the welfare of the previous round:
    a signal, one round late; ``sum x <= SW*``, so it is never perturbed."""

    def __init__(self, base: Any) -> None:
        self.base = base
        self.layout = base.layouts["vsp"]
        self.first = True

    def reset(self) -> None:
        self.first = True

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.first:
            self.first = False
            return truthful_bids(self.base)
        scale = self.layout.field("utility").scale
        return {a: np.array([self.layout.unpack(observations[a])["utility"] * scale],
                            dtype=np.float32).reshape(1) for a in self.base.vsps}


def bidders_for(reward: str, base: Any) -> TruthfulBidders | LastUtilityBidders:
    """The VSPs' bidding rule under slicer reward ``reward``."""
    return LastUtilityBidders(base) if reward == "bids" else TruthfulBidders(base)


# ---------------------------------------------------------------------------- MADDPG adapter
class BoxSlicers:
    """The env seen by MADDPG: each slicer's ``MultiDiscrete([7, 7, 7])`` replaced by
    ``Box(-1, 1, (3,))``, rounded to the nearest level (``-1`` = -0.3, ``0`` = no change)."""

    def __init__(self, env: Any) -> None:
        self.env, self.base = env, env.unwrapped
        self.possible_agents = list(self.base.slicers)
        self.levels = int(env.action_space(self.possible_agents[0]).nvec[0])
        self._box = spaces.Box(-1.0, 1.0, (int(env.action_space(self.possible_agents[0])
                                                 .nvec.size),), np.float32)

    def action_space(self, agent: str) -> spaces.Space:
        return self._box

    def observation_space(self, agent: str) -> spaces.Space:
        return self.env.observation_space(agent)

    @property
    def state_space(self) -> spaces.Space:
        return self.base.state_space

    def state(self) -> np.ndarray:
        """The market's global state (slices, last bids, progress): a critic input for MADDPG."""
        return self.env.state()

    def to_levels(self, unit: np.ndarray) -> np.ndarray:
        position = (np.clip(np.asarray(unit, dtype=np.float64), -1, 1) + 1) / 2 * (self.levels - 1)
        return np.rint(position).astype(np.int64)


# ---------------------------------------------------------------------------- one training run
#: Version of the learners' set-up below; part of every training cell's key, so a stored cell
#: from an older set-up is not resumed as if it were this one's.
LEARNER_SETUP = 2


def _learner(method: str, env: Any, n: int, seed: int, reward: str,
             mfddpg_lr: float = MFDDPG_LR) -> tuple[Any, Any]:
    """(learner, MADDPG adapter or None) for the slicers of ``env``.

    DVCG-MADDPG's critic reads the market state (slices, last bids, progress: 41 entries at
    N = 10 instead of the 330 of the joint observations), and its discount follows the reward:
    under the welfare reward a round's reward is the welfare its own joint action produced, and
    the myopic oracle (best one-round moves) reaches 0.987, so ``gamma = 0`` (a centralized
    critic of the round's welfare, whose action gradient gives each slicer its own share of the
    credit); under the bids reward (27) the reward lags one round, so ``gamma = 0.5``.
    """
    if method == "DVCG-MADDPG":
        from agents.maddpg import MADDPG, MADDPGConfig

        adapter = BoxSlicers(env)
        config = MADDPGConfig(gamma=0.5 if reward == "bids" else 0.0, reward_scale=1.0 / 20,
                              critic_sharing="shared", critic_input="state", batch_size=128,
                              learning_starts=256, buffer_size=10_000, noise_start=0.3,
                              noise_end=0.1, noise_anneal_steps=3000, update_every=1)
        return MADDPG(adapter, config, seed=seed), adapter
    from agents.mean_field import MFAC, MFDDPG, MeanFieldConfig

    if method == "DVCG-MFDDPG":
        # The mean-field learner that leaves the uniform split (docs/results/dvcg_mf_diagnosis.txt
        # for why MF-AC does not): MF-DDPG through the Box adapter, a one-hot agent id, gamma 0
        # and the reward as a difference to the previous round's (reward_baseline="previous"):
        # the welfare's level is common to every slicer and the others' individual moves are not
        # in a mean field, so a critic of the level gives ~0 action gradient; the round's change
        # is what the round's actions caused.
        adapter = BoxSlicers(env)
        config = MeanFieldConfig(gamma=0.0, reward_scale=1.0 / 20, batch_size=128,
                                 lr=mfddpg_lr, actor_lr=mfddpg_lr,
                                 learning_starts=256, buffer_size=10_000, tau=0.01,
                                 noise_start=0.3, noise_end=0.1, noise_anneal_steps=3000,
                                 agent_id=True, reward_baseline="previous")
        return MFDDPG(adapter, config, seed=seed), adapter
    config = MeanFieldConfig(gamma=0.9, reward_scale=1.0 / 20, batch_size=128,
                             learning_starts=256, use_mean_field=method == "DVCG-MFMARL",
                             entropy_coef=0.01)
    return MFAC(env, config, agents=env.unwrapped.slicers, seed=seed), None


def slicer_actions(learner: Any, adapter: Any, slicer_obs: dict[str, np.ndarray], explore: bool
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(learner's actions, env actions)`` of the slicers for their observations (MADDPG's Box
    actions rounded to levels by the adapter)."""
    chosen = learner.act(slicer_obs, explore)
    return chosen, ({a: adapter.to_levels(u) for a, u in chosen.items()} if adapter
                    else dict(chosen))


def _episode(env: Any, learner: Any, adapter: Any, reward: str, seed: int, explore: bool,
             learn: bool, tail: int) -> float:
    """One episode; efficiency averaged over its last ``tail`` rounds."""
    base = env.unwrapped
    observations, _ = env.reset(seed=seed)
    optimum = base.metrics()["optimal_welfare"]
    bidders = bidders_for(reward, base)
    efficiency = []
    while env.agents:
        slicer_obs = {a: observations[a] for a in base.slicers}
        chosen, actions = slicer_actions(learner, adapter, slicer_obs, explore)
        actions.update(bidders.act({a: observations[a] for a in base.vsps}))
        next_observations, rewards, terminations, truncations, infos = env.step(actions)
        if learn:
            learner.observe(Transition(slicer_obs, chosen, rewards,
                                       {a: next_observations[a] for a in base.slicers},
                                       terminations, truncations, infos))
            learner.update()
        observations = next_observations
        efficiency.append(infos[base.slicers[0]]["welfare"] / optimum)
    if learn:
        learner.end_episode()
    return float(np.mean(efficiency[-tail:]))


def train_slicers(method: str, n: int, seed: int, reward: str, budget: dict[str, int]
                  ) -> dict[str, Any]:
    """Train ``method``'s slicers on market ``seed`` and play greedily; the curve is
    ``[episodes trained, training seconds, greedy efficiency]``."""
    return trained_slicers(method, n, seed, reward, budget)[3]


def trained_slicers(method: str, n: int, seed: int, reward: str, budget: dict[str, int]
                    ) -> tuple[Any, Any, Any, dict[str, Any]]:
    """:func:`train_slicers` that also hands back what it trained: ``(env, learner, adapter,
    result)`` (the learned slicers for a later experiment, e.g. :mod:`benchmarks.dvcg_incentives`)."""
    import torch

    torch.set_num_threads(1)
    env = auction_envs.make(ENV_ID, n_vsps=n, instance_seed=seed, slicer_reward=reward,
                            max_cycles=budget["episode_rounds"])
    learner, adapter = _learner(method, env, n, seed, reward,
                                mfddpg_lr=budget.get("mfddpg_lr", MFDDPG_LR))
    evaluate = functools.partial(_episode, env, learner, adapter, reward, explore=False,
                                 learn=False, tail=budget["tail"])
    curve = [[0, 0.0, evaluate(seed=10**6 + seed)]]
    seconds = 0.0
    for episode in range(1, budget["episodes"] + 1):
        start = time.perf_counter()
        _episode(env, learner, adapter, reward, seed * 10_000 + episode, True, True,
                 budget["tail"])
        seconds += time.perf_counter() - start
        if episode % budget["eval_every"] == 0 or episode == budget["episodes"]:
            curve.append([episode, seconds, evaluate(seed=10**6 + seed)])
    return env, learner, adapter, {"efficiency": curve[-1][2], "curve": curve,
                                   "train_seconds": seconds}




class PPOSlicers:
    """A trained SB3 PPO model acting for every slicer (one shared policy), in the learners'
    ``act(observations, explore)`` form, so the greedy evaluation is the learners'."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def act(self, observations: dict[str, np.ndarray], explore: bool) -> dict[str, np.ndarray]:
        agents = list(observations)
        levels, _ = self.model.predict(np.stack([observations[a] for a in agents]),
                                       deterministic=not explore)
        return {a: np.asarray(levels[k], dtype=np.int64) for k, a in enumerate(agents)}


def train_ppo_slicers(n: int, seed: int, reward: str, budget: dict[str, int]) -> dict[str, Any]:
    """Off-the-shelf SB3 PPO (defaults, ``n_steps = episode_rounds``) with parameter sharing over
    the slicers (SuperSuit), the VSPs scripted by :func:`bidders_for` through
    :class:`~auction_envs.wrappers.scripted.ScriptedAgents`; ``ppo_steps`` slicer-steps, evaluated
    greedily (deterministic) like the learners, ``eval_points`` times along training."""
    import torch
    from stable_baselines3 import PPO

    from auction_envs.wrappers.sb3 import sb3_vec_env
    from auction_envs.wrappers.scripted import ScriptedAgents

    torch.set_num_threads(1)
    make = functools.partial(auction_envs.make, ENV_ID, n_vsps=n, instance_seed=seed,
                             slicer_reward=reward, max_cycles=budget["episode_rounds"])
    train_env = make()
    base = train_env.unwrapped
    vector = sb3_vec_env(ScriptedAgents(train_env, bidders_for(reward, base), base.vsps))
    model = PPO("MlpPolicy", vector, n_steps=budget["episode_rounds"] * 4, batch_size=n * 30,
                seed=seed, device="cpu", verbose=0)
    evaluate = functools.partial(_episode, make(), PPOSlicers(model), None, reward, explore=False,
                                 learn=False, tail=budget["tail"])
    chunk = max(1, budget["ppo_steps"] // budget["eval_points"])
    curve = [[0, 0.0, evaluate(seed=10**6 + seed)]]
    seconds, trained = 0.0, 0
    while trained < budget["ppo_steps"]:
        start = time.perf_counter()
        model.learn(total_timesteps=chunk, reset_num_timesteps=False)
        seconds += time.perf_counter() - start
        trained = int(model.num_timesteps)
        curve.append([trained / (n * budget["episode_rounds"]), seconds,
                      evaluate(seed=10**6 + seed)])
    return {"efficiency": curve[-1][2], "curve": curve, "train_seconds": seconds,
            "slicer_steps": trained}


# ---------------------------------------------------------------------------- references
def references(n: int, seed: int, rounds: int, tail: int) -> dict[str, float]:
    """Uniform split, QVCG-0.05 (exact), QVCG-0.01 (lower bound) and the hill-climbing slicers
    (``rounds`` rounds of the welfare reward, mean of the last ``tail``) on market ``seed``."""
    from agents.baselines.hill_climb_slicer import HillClimbingSlicers
    from auction_envs.oracles.slicing import slicing_utility

    env = auction_envs.make(ENV_ID, n_vsps=n, instance_seed=seed, max_cycles=rounds)
    observations, _ = env.reset(seed=seed)
    base = env.unwrapped
    optimum = base.metrics()["optimal_welfare"]
    team = HillClimbingSlicers(base, seed=seed)
    bids = truthful_bids(base)
    welfare = []
    while env.agents:
        actions = team.act(observations)
        actions.update(bids)
        observations, rewards, _, _, infos = env.step(actions)
        team.observe(rewards)
        welfare.append(infos[base.slicers[0]]["welfare"])
    beta, xi, optimal_allocation = base.beta, base.xi, base.s_true
    uniform = slicing_utility(np.full((n, 3), 1.0 / n), beta, xi).sum() / optimum

    qvcg = auction_envs.make("auction_envs/IoVSlicingQVCG-v1", n_vsps=n, instance_seed=seed,
                             M=20, max_cycles=1)
    qvcg.reset(seed=seed)
    qvcg.step(truthful_bids(qvcg.unwrapped))
    qvcg_05 = qvcg.unwrapped.metrics()["efficiency"]
    rounded = grid_rounding(optimal_allocation, 100)
    return {"uniform": float(uniform), "QVCG-0.05": float(qvcg_05),
            "QVCG-0.01 (lower bound)": float(slicing_utility(rounded, beta, xi).sum() / optimum),
            "QVCG-0.05 rounding bound": float(slicing_utility(grid_rounding(optimal_allocation, 20),
                                                              beta, xi).sum() / optimum),
            "hill-climb": float(np.mean(welfare[-tail:]) / optimum)}


def capped_proposal(slices: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The slices after level indices ``chosen`` ``[n, 3]`` under the env's capped action rule
    (multiplicative change, every resource whose total exceeds 1 divided by its total)."""
    from auction_envs.envs.iov.core import SLICE_LEVELS

    proposal = slices * (1.0 + np.asarray(SLICE_LEVELS)[chosen])
    return proposal / np.maximum(proposal.sum(axis=0, keepdims=True), 1.0)


def single_move_gains(slices: np.ndarray, beta: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """``gains[i, k, level]``: the welfare change when only slicer ``i`` changes resource ``k`` by
    ``level`` from ``slices`` (the others keep theirs), computed from the true market."""
    from auction_envs.envs.iov.core import SLICE_LEVELS
    from auction_envs.oracles.slicing import slicing_utility

    levels = np.asarray(SLICE_LEVELS)
    no_change = int(np.flatnonzero(levels == 0.0)[0])
    n = slices.shape[0]
    reference = slicing_utility(slices, beta, xi).sum()
    gains = np.zeros((n, slices.shape[1], levels.size))
    for i in range(n):
        for k in range(slices.shape[1]):
            for level in range(levels.size):
                trial = np.full(slices.shape, no_change)
                trial[i, k] = level
                gains[i, k, level] = slicing_utility(capped_proposal(slices, trial), beta,
                                                     xi).sum() - reference
    return gains


def myopic_oracle(n: int, seed: int, rounds: int, tail: int) -> dict[str, float]:
    """What the slicers' action interface allows within one episode: every round each slicer
    plays its best single move (one level on one resource, or no change) assuming the others do
    not move, computed from the true market (an oracle: it reads beta and xi). Same start
    (uniform), same capped action rule and slice floor as the env; no perturbation (truthful bids
    are never perturbed). Efficiency averaged over the last ``tail`` of ``rounds`` rounds."""
    from auction_envs.envs.iov.core import SLICE_FLOOR
    from auction_envs.oracles.slicing import slicing_utility

    env = auction_envs.make(ENV_ID, n_vsps=n, instance_seed=seed, max_cycles=1)
    env.reset(seed=seed)
    base = env.unwrapped
    beta, xi, optimum = base.beta, base.xi, base.metrics()["optimal_welfare"]
    slices = np.full((n, 3), 1.0 / n)
    efficiency = []
    for _ in range(rounds):
        best = single_move_gains(slices, beta, xi).argmax(axis=-1)
        slices = np.maximum(capped_proposal(slices, best), SLICE_FLOOR)
        slices = slices / np.maximum(slices.sum(axis=0, keepdims=True), 1.0)
        efficiency.append(slicing_utility(slices, beta, xi).sum() / optimum)
    return {"myopic oracle": float(np.mean(efficiency[-tail:]))}


def grid_rounding(allocation: np.ndarray, m: int) -> np.ndarray:
    """``allocation`` rounded to multiples of ``1/m`` per resource by largest remainders (floors,
    then the remaining units of each resource to the largest fractional parts): a point QVCG's
    integer program may choose, so its welfare bounds QVCG's from below."""
    units = np.floor(allocation * m + 1e-9)
    for k in range(allocation.shape[1]):
        spare = int(m - units[:, k].sum())
        order = np.argsort(-(allocation[:, k] * m - units[:, k]), kind="stable")
        units[order[:max(spare, 0)], k] += 1
    return units / m


# ---------------------------------------------------------------------------- statistics
def mean_ci(values: Any) -> tuple[float, float]:
    """Mean and 95% half-width (Student t) over seeds (nan with one seed)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float(values.mean()), float("nan")
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean()), float(half)


def reaches_target(efficiency: tuple[float, float], target: float = TARGET) -> bool:
    """The claim "learned slicers reach ``target`` of the optimum" holds when the lower end of the
    mean efficiency's 95% interval over seeds (markets) is at least ``target`` (at least two
    seeds: one gives no interval). A rule on the mean's interval, not "every seed": more seeds
    make it sharper instead of harder."""
    mean, half = efficiency
    return bool(np.isfinite(half) and mean - half >= target)


def fmt(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.4f} ± {pair[1]:.4f}"


def summarize(cells: dict[tuple, Any], budget: Budget, seeds: int) -> dict[str, Any]:
    """Per (reward, N): every method's efficiency over seeds, paired differences, claims."""
    table: list[dict[str, Any]] = []
    for reward in budget.rewards:  # only the rewards trained under
        for n in budget.ns if reward == "welfare" else budget.bids_ns:
            refs = [cells.get(("references", n, s)) for s in range(seeds)]
            if any(r is None for r in refs):
                continue
            row: dict[str, Any] = {"reward": reward, "n": n, "seeds": seeds}
            values: dict[str, np.ndarray] = {}
            for name in refs[0]:
                if name != "cost":
                    values[name] = np.array([r[name] for r in refs])
            oracle = [cells.get(("myopic", n, s)) for s in range(seeds)]
            if all(r is not None for r in oracle):
                values["myopic oracle"] = np.array([r["myopic oracle"] for r in oracle])
            for method in LEARNED:
                runs = [cells.get((method, n, s, reward)) for s in range(seeds)]
                if all(r is not None for r in runs):
                    values[method] = np.array([r["efficiency"] for r in runs])
                    row[f"{method} train s"] = mean_ci([r["train_seconds"] for r in runs])
            row.update({name: mean_ci(v) for name, v in values.items()})
            for method in LEARNED:
                if method in values:
                    row[f"{method} - QVCG-0.05"] = mean_ci(values[method] - values["QVCG-0.05"])
                    row[f"{method} - uniform"] = mean_ci(values[method] - values["uniform"])
                    row[f"{method} seeds >= {TARGET}"] = int(np.sum(values[method] >= TARGET))
            if "DVCG-MFMARL" in values and "DVCG-MARL" in values:
                row["DVCG-MFMARL - DVCG-MARL"] = mean_ci(values["DVCG-MFMARL"]
                                                         - values["DVCG-MARL"])
            table.append(row)
    return {"table": table}


def print_report(summary: dict[str, Any], cells: dict[tuple, Any], budget: Budget,
                 seeds: int, out: Any = None) -> None:
    out = sys.stdout if out is None else out
    names = ["optimum", "DVCG-MFMARL", "DVCG-MFDDPG", "DVCG-MADDPG", "DVCG-MARL", "SB3-PPO",
             "hill-climb",
             "myopic oracle", "QVCG-0.05", "QVCG-0.01 (lower bound)", "uniform"]
    print(f"Efficiency (welfare / optimum), greedy episode of {budget.episode_rounds} rounds after "
          f"{budget.episodes} training episodes, mean of its last {budget.tail} rounds; "
          f"mean ± 95% CI over {seeds} seeds (markets)", file=out)
    for reward in REWARDS:
        rows = [r for r in summary["table"] if r["reward"] == reward]
        if not rows:
            continue
        print(f"\nslicer reward = {reward!r}" + (" (paper (27), bidders bid their last utility)"
                                                 if reward == "bids" else
                                                 " (truthful bidders)"), file=out)
        print("  " + f"{'method':<26}" + "".join(f"{'N=' + str(r['n']):>20}" for r in rows),
              file=out)
        for name in names:
            cells_text = []
            for r in rows:
                if name == "optimum":
                    cells_text.append(f"{1.0:>20.4f}")
                elif name in r:
                    cells_text.append(f"{fmt(r[name]):>20}")
                else:
                    cells_text.append(f"{'-':>20}")
            print("  " + f"{name:<26}" + "".join(cells_text), file=out)
        print("  paired per seed:", file=out)
        for key in [k for k in rows[0] if " - " in k or "seeds >=" in k or "train s" in k]:
            print("  " + f"{key:<26}" + "".join(
                f"{(fmt(r[key]) if isinstance(r.get(key), tuple) else str(r.get(key, '-'))):>20}"
                for r in rows), file=out)
    print("\nClaims (paper 002 / issue 15) beside ours:", file=out)
    for reward in REWARDS:
        ten = [r for r in summary["table"] if r["reward"] == reward and r["n"] == 10]
        if not ten:
            continue
        r = ten[0]
        for method in LEARNED:
            if method in r:
                holds = reaches_target(r[method])
                mean, half = r[method]
                print(f"  [{reward}] learned slicers reach >= {TARGET:.0%} of the optimum at N=10: "
                      f"{method} {fmt(r[method])} (95% interval [{mean - half:.4f}, "
                      f"{mean + half:.4f}]), {r[f'{method} seeds >= {TARGET}']}/{r['seeds']} "
                      f"seeds >= {TARGET:.0%} -> {'holds' if holds else 'NOT reproduced'}",
                      file=out)
        if reward == "welfare":
            print(f"  QVCG-0.05 reaches about {QVCG_CLAIM:.1%} of the optimum: ours "
                  f"{fmt(r['QVCG-0.05'])}", file=out)
            print(f"  the market is learnable through the slicers' actions (scripted hill-climb, "
                  f"same rounds as training): {fmt(r['hill-climb'])}", file=out)
    speed = [(r["n"], r.get("DVCG-MFMARL train s"), r.get("DVCG-MADDPG train s"))
             for r in summary["table"] if r["reward"] == "welfare"]
    if speed:
        print("  mean-field faster than MADDPG as N grows (training seconds, same episodes):",
              file=out)
        for n, mf, maddpg in speed:
            if mf and maddpg:
                print(f"    N={n}: MF {mf[0]:.1f} s, MADDPG {maddpg[0]:.1f} s "
                      f"(ratio {maddpg[0] / mf[0]:.2f})", file=out)
    paper = "the paper's budget" if budget.episodes >= PAPER_EPISODES else "not the paper's budget"
    print(f"  budget: {budget.episodes} episodes x {budget.episode_rounds} rounds per run (paper: "
          f"{PAPER_EPISODES} episodes): {paper}.", file=out)


def plot(cells: dict[tuple, Any], summary: dict[str, Any], budget: Budget, seeds: int,
         path: str) -> None:
    plt = plt_agg()
    curve_ns = list(budget.curve_ns)
    panels = 2 + 2 * len(curve_ns)
    figure, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 4))
    rows = [r for r in summary["table"] if r["reward"] == "welfare"]
    ns = [r["n"] for r in rows]
    for name, style in (("DVCG-MFMARL", "o-"), ("DVCG-MADDPG", "s-"), ("DVCG-MARL", "^-"),
                        ("DVCG-MFDDPG", "P-"),
                        ("SB3-PPO", "v-"), ("QVCG-0.05", "k--"), ("uniform", "k:"), ("hill-climb", "x-"),
                        ("myopic oracle", "d--")):
        present = [r for r in rows if name in r]
        if present:
            axes[0].errorbar([r["n"] for r in present], [r[name][0] for r in present],
                             yerr=[np.nan_to_num(r[name][1]) for r in present], fmt=style,
                             label=name, capsize=3)
    axes[0].axhline(1.0, color="grey", lw=0.8, label="optimum")
    axes[0].axhline(TARGET, color="red", lw=0.8, ls=":", label="95%")
    axes[0].set(xlabel="N (VSPs)", ylabel="welfare / optimum", title="welfare reward",
                xticks=ns, ylim=(0.5, 1.02))
    axes[0].legend(fontsize=7)
    for method, style in (("DVCG-MFMARL", "o-"), ("DVCG-MADDPG", "s-")):
        present = [r for r in rows if f"{method} train s" in r]
        if present:
            axes[1].plot([r["n"] for r in present], [r[f"{method} train s"][0] for r in present],
                         style, label=method)
    axes[1].set(xlabel="N (VSPs)", ylabel="training seconds", title="training cost")
    axes[1].legend(fontsize=7)
    for index, n in enumerate(curve_ns):
        by_episode, by_second = axes[2 + 2 * index], axes[3 + 2 * index]
        for method in LEARNED:
            runs = [cells.get((method, n, s, "welfare")) for s in range(seeds)]
            if all(r is not None for r in runs):
                curves = np.array([r["curve"] for r in runs])  # [seeds, points, 3]
                by_episode.plot(curves[0, :, 0], curves[:, :, 2].mean(0), label=method)
                by_second.plot(curves[:, :, 1].mean(0), curves[:, :, 2].mean(0), label=method)
        for axis, label in ((by_episode, "training episodes"),
                            (by_second, "training seconds (mean over seeds)")):
            axis.axhline(1.0, color="grey", lw=0.8)
            axis.set(xlabel=label, ylabel="greedy welfare / optimum", ylim=(0.5, 1.02),
                     title=f"convergence, N={n} (welfare reward)")
            axis.legend(fontsize=7)
    save_figure(figure, path)


# ---------------------------------------------------------------------------- main
#: Rough CPU rank of a training cell (the costliest first): a pool that starts the long cells
#: first finishes sooner (the order changes no result: every cell is seeded on its own).
_COST_RANK = {"DVCG-MADDPG": 0, "SB3-PPO": 1, "DVCG-MARL": 2, "DVCG-MFMARL": 2, "DVCG-MFDDPG": 2}


def jobs_for(budget: Budget, seeds: int, methods: tuple[str, ...] | None = None,
             rewards: tuple[str, ...] | None = None) -> list[tuple]:
    """The grid's cells: the training runs (costliest first: MADDPG, then larger N first), then
    the references and myopic oracles of every market. ``methods`` / ``rewards`` default to the
    budget's."""
    methods = budget.methods if methods is None else methods
    rewards = budget.rewards if rewards is None else rewards
    train_budget = {k: v for k, v in asdict(budget).items()
                    if k in ("episodes", "episode_rounds", "eval_every", "tail")}
    train_budget["setup"] = LEARNER_SETUP
    # the rate keys DVCG-MFDDPG's cells only (the other learners ignore it), and not at 1e-3,
    # so the cells stored while 1e-3 was the default stay valid
    mfddpg_budget = dict(train_budget)
    if budget.mfddpg_lr != KEYLESS_MFDDPG_LR:
        mfddpg_budget["mfddpg_lr"] = budget.mfddpg_lr
    ppo_budget = {k: v for k, v in asdict(budget).items()
                  if k in ("ppo_steps", "eval_points", "episode_rounds", "tail")}
    training: list[tuple] = []
    for reward in rewards:
        for n in budget.ns if reward == "welfare" else budget.bids_ns:
            for method in methods:
                if method == "DVCG-MADDPG" and n not in budget.maddpg_ns:
                    continue
                for seed in range(seeds):
                    training.append((method, n, seed, reward,
                                     ppo_budget if method == "SB3-PPO" else mfddpg_budget
                                     if method == "DVCG-MFDDPG" else train_budget))
    training.sort(key=lambda job: (_COST_RANK.get(job[0], 3), -job[1]))  # stable
    jobs: list[tuple] = list(training)
    for n in budget.ns:
        for seed in range(seeds):
            jobs.append(("references", n, seed, budget.episodes * budget.episode_rounds,
                         budget.tail))
    for n in budget.ns:
        for seed in range(seeds):
            jobs.append(("myopic", n, seed, budget.episode_rounds, budget.tail))
    return jobs


def run_cell(kind: str, *args: Any) -> dict[str, Any]:
    """One cell of the grid (references of a market, or one training run), with its own CPU and
    wall seconds under ``"cost"`` (measured in the process that ran it)."""
    cpu, wall = time.process_time(), time.perf_counter()
    if kind == "references":
        result = references(*args)
    elif kind == "myopic":
        result = myopic_oracle(*args)
    elif kind == "SB3-PPO":
        result = train_ppo_slicers(*args)
    else:
        result = train_slicers(kind, *args)
    return {**result, "cost": {"cpu_s": time.process_time() - cpu,
                               "wall_s": time.perf_counter() - wall}}


def cell_costs(cells: dict[tuple, Any]) -> dict[str, Any]:
    """Sum of the cells' own CPU and wall seconds, per kind and in all (cells stored by an older
    version carry no cost and are counted in ``without_cost``)."""
    by_kind: dict[str, list[float]] = {}
    without = 0
    for key, result in cells.items():
        cost = result.get("cost") if isinstance(result, dict) else None
        if cost is None:
            without += 1
            continue
        kind = by_kind.setdefault(str(key[0]), [0.0, 0.0, 0])
        kind[0] += cost["cpu_s"]
        kind[1] += cost["wall_s"]
        kind[2] += 1
    return {"cpu_s": sum(k[0] for k in by_kind.values()),
            "wall_s": sum(k[1] for k in by_kind.values()),
            "by_kind": {name: {"cpu_s": k[0], "wall_s": k[1], "cells": k[2]}
                        for name, k in by_kind.items()},
            "without_cost": without}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__, "python -m benchmarks.reproduce_dvcg")
    parser.add_argument("--quick", action="store_true",
                        help="N = 10, welfare reward, DVCG-MFMARL and DVCG-MADDPG, 5 seeds, 160 "
                             "training episodes (default: the full mode, N = 10..50, both "
                             "rewards, every method, 5 seeds, 300 episodes)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds (markets) per cell (default 5)")
    parser.add_argument("--episodes", type=int, default=None,
                        help="training episodes per run (default 160 quick, 300 full)")
    parser.add_argument("--methods", nargs="+", choices=LEARNED, default=None,
                        help="learned slicers to train (default: all; quick: DVCG-MFMARL, "
                             "DVCG-MFDDPG, DVCG-MADDPG and SB3-PPO; the references always run)")
    parser.add_argument("--rewards", nargs="+", choices=REWARDS, default=None,
                        help="slicer rewards to train under (default: both; quick: welfare)")
    parser.add_argument("--ppo-steps", type=int, default=None,
                        help="SB3 PPO slicer-steps per run (default 48000 quick, 150000 full)")
    parser.add_argument("--n", type=int, nargs="+", default=None,
                        help="numbers of VSPs, each trained under every --rewards (default 10 "
                             "quick, 10 20 30 40 50 full)")
    parser.add_argument("--mfddpg-lr", type=float, default=None,
                        help="DVCG-MFDDPG's Adam learning rate, critic and actor (default 3e-4; "
                             "1e-3 peaks sooner and drifts down, docs/results/dvcg_n10_mfddpg_*)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--report", action="store_true",
                        help="with --json PATH: print the tables from the cells stored in "
                             "PATH.cells.jsonl (even an unfinished run's) without running any")
    add_output_arguments(parser, png=True)
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {}
    if args.episodes is not None:
        if args.episodes < 1:
            parser.error(f"--episodes must be >= 1; got {args.episodes}")
        overrides["episodes"] = args.episodes
    if args.ppo_steps is not None:
        if args.ppo_steps < 1:
            parser.error(f"--ppo-steps must be >= 1; got {args.ppo_steps}")
        overrides["ppo_steps"] = args.ppo_steps
    if args.n is not None:
        if min(args.n) < 2 or max(args.n) > 50:
            parser.error(f"--n values must be in 2..50; got {args.n}")
        overrides.update(ns=tuple(args.n), maddpg_ns=tuple(args.n), bids_ns=tuple(args.n),
                         curve_ns=tuple(n for n in budget.curve_ns if n in args.n) or args.n[:1])
    if args.mfddpg_lr is not None:
        if not (np.isfinite(args.mfddpg_lr) and args.mfddpg_lr > 0):
            parser.error(f"--mfddpg-lr must be > 0; got {args.mfddpg_lr}")
        overrides["mfddpg_lr"] = args.mfddpg_lr
    if args.methods is not None:
        overrides["methods"] = tuple(args.methods)
    if args.rewards is not None:
        overrides["rewards"] = tuple(args.rewards)
    budget = Budget(**{**asdict(budget), **overrides})
    seeds = budget.seeds if args.seeds is None else args.seeds
    if seeds < 1:
        parser.error(f"--seeds must be >= 1; got {seeds}")
    jobs = jobs_for(budget, seeds)
    if args.report and not args.json:
        parser.error("--report needs --json PATH (the run whose cells to report)")
    results = IncrementalResults(None if args.report else args.json,
                                 {"budget": asdict(budget), "seeds": seeds, "cells": []})
    cells: dict[tuple, Any] = {}

    def record(index: int, result: Any) -> None:
        job = jobs[index]
        key = (job[0], job[1], job[2]) if job[0] in ("references", "myopic") else job[:4]
        cells[key] = result
        results.add({"job": list(key), "result": result}, key="cells")

    started, cpu_started = time.perf_counter(), time.process_time()
    if args.report:
        store = cell_store(args)
        for index, job in enumerate(jobs):
            stored = store.get((run_cell.__name__, job))
            if stored is not None:
                record(index, stored)
        print(f"report of {len(cells)} of {len(jobs)} cells stored beside {args.json}")
    else:
        run_jobs(run_cell, jobs, workers=args.workers, on_result=record,
                 show_progress=not args.no_progress, desc="dvcg cells", store=cell_store(args))
    summary = summarize(cells, budget, seeds)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    costs = cell_costs(cells)
    results.update(summary=summary, wall_seconds=elapsed, cpu_seconds=cpu, cell_costs=costs,
                   workers=args.workers)
    print_report(summary, cells, budget, seeds)
    print(f"\nrun time {elapsed:.0f} s wall, {cpu:.0f} s CPU of this process ({len(jobs)} cells, "
          f"--workers {args.workers}; cells resumed from --json cost nothing)")
    print(f"cells' own cost: {costs['cpu_s']:.0f} s CPU, {costs['wall_s']:.0f} s wall in all; "
          f"sum of cell CPU / {args.workers} worker(s) = {costs['cpu_s'] / args.workers:.0f} s "
          f"(the wall time on idle cores); by kind: " + ", ".join(
              f"{name} {k['cpu_s']:.0f} s ({k['cells']} cells)"
              for name, k in costs["by_kind"].items())
          + (f"; {costs['without_cost']} cells stored without a cost" if costs["without_cost"]
             else ""))
    if args.png:
        plot(cells, summary, budget, seeds, args.png)
        print(f"figure: {args.png}")
    if args.json:
        print(f"json: {args.json}")
    return results.payload


if __name__ == "__main__":
    main()
