"""Paper 004 (RTRM) reproduction: MADDPG pricing under RTRM vs the CDARA and ICAA baselines.

Paper 004 ("Reinforcement Learning-based Real-time Fair Online Resource Matching") trains one
pricing agent per cloud provider with MADDPG and claims, against CDARA and ICAA (fairness off and
on): (1) every provider's utility is higher under RTRM; (2) buyer utility is at least 1.4x that of
both baselines; (3) with fairness every provider wins in every episode (and far fewer buyers drop).

For each env (``--env-id``, without fairness, and ``--fair-env-id``) and each seed this script runs,
on the same evaluation episodes (paired per seed):

* ``markup=x``  RTRM with every provider asking the fixed multiplier ``x`` (the scripted reference:
  a sweep, the best of which MADDPG must beat on total provider utility);
* ``CDARA``, ``ICAA``  the baselines (``mechanism=`` kwarg), providers at ``--baseline-markup``
  (where the env prices the baselines by their own rules this input is ignored by the env);
* ``budget``  budget shading (:class:`agents.baselines.cloud_pricing.BudgetShadingPricing`: ask
  a fraction of each buyer's budget, clipped to the Box), the best scripted per-buyer policy; the
  fraction is chosen per seed on the training seed's episode among ``BUDGET_FRACTIONS``;
* ``MADDPG``  RTRM with ``agents.maddpg.MADDPG`` pricing, each provider trained on its own
  utility (the paper's setting), and ``MADDPG-team``, every critic trained on the providers'
  summed utility (the metric; ``MADDPGConfig.reward_sharing="team"``); configuration in
  :func:`maddpg_config`; trained ``--train-steps`` env steps then played greedily;
* ``PPO``  (without fairness) SB3 PPO with parameter sharing through
  ``auction_envs.wrappers.sb3.sb3_vec_env`` (SB3 defaults, ``n_steps=512``), ``--ppo-steps``
  agent-steps, played deterministically: an off-the-shelf baseline on the same seeds.

Reported: per-provider and buyer utility, wins per provider and Jain's index, episodes in which
every provider wins, buyer drops per evaluation episode (consecutive episodes on one env, so a
persistent buyer population carries over), the realized surplus (buyer + provider utility, which
equals the sum over matches of budget minus the winner's base cost) and the env's surplus bound
when ``metrics()`` reports one (``surplus_bound``); means with 95% t-intervals over seeds, and the
paper's claims beside paired per-seed comparisons with a verdict: reproduced / partly / not
reproduced / infeasible (the joint claim needs more surplus than the market can produce).

Budget. The env runs 70-190 steps/s on this machine (load-dependent); the paper's 12,000
episodes x 2,000 steps of training would take over a day per run. ``--quick`` trains MADDPG
2,000 env steps (both reward settings on the plain env, the own-reward one on the fair env,
which gets only the rows the paper's claims read) and PPO 10k agent-steps per seed; run it with
``--workers 2`` (the measured wall time is at the top of docs/results/rtrm_quick.txt). The full
mode trains 20,000 env steps (200 episodes of 100) and 100k agent-steps, every row on both envs,
several hours. Neither is the paper's budget; the tables say so. ``--report JSON`` reprints the
tables and claims of a saved (even unfinished) run.

    python -m benchmarks.reproduce_rtrm --quick --workers 2 --json results/rtrm_quick.json \
        --png results/rtrm.png
    python -m benchmarks.reproduce_rtrm --seeds 5 --json results/rtrm.json --png results/rtrm.png
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import auction_envs
from agents.base import Transition
from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    progress,
    run_jobs,
    save_figure,
)

BASELINES = ("cdara", "icaa")
EVAL_SEED_OFFSET = 10_000
QUICK = {"seeds": 5, "eval_episodes": 2, "train_steps": 2_000, "ppo_steps": 10_000,
         "markups": (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0), "fair_rows": "paper",
         "maddpg": ("MADDPG", "MADDPG-team-bf")}
FULL = {"seeds": 5, "eval_episodes": 5, "train_steps": 20_000, "ppo_steps": 100_000,
        "markups": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0), "fair_rows": "all",
        "maddpg": ("MADDPG", "MADDPG-team", "MADDPG-team-bf")}
#: ``maddpg``: the MADDPG rows trained (names from :func:`maddpg_row`): the paper's own-reward
#: multiplier pricing, and the team-reward budget-fraction setting that beats the best fixed
#: markup (docs/results/rtrm_maddpg_v2.txt); the full mode adds team reward with multipliers.
#: ``fair_rows``: on the fair env, "all" rows or only what the paper's claims read ("paper":
#: CDARA, ICAA and the own-reward MADDPG), which keeps --quick inside its 15-minute budget.

#: Budget-shading fractions tried on each seed's training episode (never on the evaluation seeds).
#: Where the MADDPG actors start (a multiplier in the [0, 1] Box), see :func:`maddpg_config`.
ACTOR_START_MULTIPLIER = 0.95
BUDGET_FRACTIONS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: MADDPG reward settings: the row name of each (``own`` is the paper's, ``team`` the metric's).
MADDPG_ROWS = {"own": "MADDPG", "team": "MADDPG-team"}
#: MADDPG action parameterizations (learner side; the env always receives multipliers), each a
#: row-name suffix: ``multiplier`` (the actor outputs the env's multiplier, the paper's) or
#: ``budget_fraction`` (the actor outputs, per slot, the fraction of the buyer's budget to ask; the
#: adapter :func:`budget_fraction_to_multiplier` turns it into ``fraction / reserve_ratio - 1``).
MADDPG_ACTIONS = {"multiplier": "", "budget_fraction": "-bf"}
#: Where the ``budget_fraction`` actors start: the middle of the fractions budget shading picked
#: on the training seeds (0.7-0.9, docs/results/rtrm_quick.txt), never the evaluation seeds.
ACTOR_START_FRACTION = 0.8

Policy = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


# ---------------------------------------------------------------------------- running policies
def make_env(env_id: str, mechanism: str, steps: int, env_kwargs: dict[str, Any]) -> Any:
    return auction_envs.make(env_id, mechanism=mechanism, max_cycles=steps, **env_kwargs)


def fixed_markup(env: Any, markup: float) -> Policy:
    """Every provider asks ``markup`` for every buyer (clipped to its Box)."""
    def act(observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {a: np.clip(np.full(env.action_space(a).shape, markup, np.float32),
                           env.action_space(a).low, env.action_space(a).high)
                for a in observations}
    return act


def budget_shading(env: Any, fraction: float) -> Policy:
    """Every provider asks ``fraction`` of each buyer's budget, clipped to its Box
    (:class:`agents.baselines.cloud_pricing.BudgetShadingPricing`): a per-buyer scripted policy."""
    from agents.baselines.cloud_pricing import BudgetShadingPricing

    policy = BudgetShadingPricing.for_env(env, fraction=fraction)
    return lambda observations: policy.act(observations, explore=False)


def select_budget_fraction(env_factory: Callable[[], Any], seed: int,
                           fractions: tuple[float, ...] = BUDGET_FRACTIONS,
                           ) -> tuple[float, dict[str, float]]:
    """The fraction with the highest total provider utility on one episode of the *training*
    seed ``seed`` (the one MADDPG and PPO train on; evaluation uses ``EVAL_SEED_OFFSET + seed``),
    so the scripted reference is tuned like the learners, never on the evaluation episodes."""
    totals = {}
    for fraction in fractions:
        env = env_factory()
        totals[f"{fraction:g}"] = evaluate(env, budget_shading(env, fraction), seed,
                                           1)["total_provider_utility"]
    best = max(fractions, key=lambda f: totals[f"{f:g}"])
    return best, totals


def summarize(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures this reproduction reports, from one episode's ``env.metrics()``."""
    provider = np.asarray(metrics["provider_utility"], dtype=np.float64)
    out = {
        "provider_utility": provider.tolist(),
        "total_provider_utility": float(provider.sum()),
        "buyer_utility": float(metrics["buyer_utility"]),
        "wins": np.asarray(metrics["wins"], dtype=np.float64).tolist(),
        "jain_wins": float(metrics["jain_wins"]),
        "all_providers_win": float(metrics["providers_without_win"] == 0),
        "buyer_drops": float(metrics["buyer_drops"]),
        "surplus": float(provider.sum() + metrics["buyer_utility"]),
    }
    if "surplus_bound" in metrics:
        out["surplus_bound"] = float(np.sum(metrics["surplus_bound"]))
    return out


def evaluate(env: Any, act: Policy, seed: int, episodes: int) -> dict[str, Any]:
    """``episodes`` consecutive episodes on ``env`` (the first reset seeded, later ones continue
    the env's generator and whatever buyer population it keeps); per-episode summaries and their
    means. Callers pass a fresh env per policy, so no policy inherits another's population."""
    rows = []
    for episode in range(episodes):
        observations, _ = env.reset(seed=seed if episode == 0 else None)
        while env.agents:
            observations, *_ = env.step(act(observations))
        rows.append(summarize(env.unwrapped.metrics()))
    mean = {key: np.mean([np.asarray(r[key]) for r in rows], axis=0).tolist() for key in rows[0]}
    return {**mean, "episodes": rows}


def maddpg_row(reward_sharing: str, action: str = "multiplier") -> str:
    """The row name of one MADDPG setting, e.g. ``MADDPG-team-bf``."""
    return MADDPG_ROWS[reward_sharing] + MADDPG_ACTIONS[action]


#: Every MADDPG row name, e.g. ``MADDPG-team-bf``.
MADDPG_ROW_NAMES = tuple(MADDPG_ROWS[sharing] + suffix for sharing in MADDPG_ROWS
                         for suffix in MADDPG_ACTIONS.values())


def parse_maddpg_row(policy: str) -> tuple[str, str] | None:
    """``(reward_sharing, action)`` of a MADDPG row name, or None for any other policy."""
    for sharing in MADDPG_ROWS:
        for action in MADDPG_ACTIONS:
            if policy == maddpg_row(sharing, action):
                return sharing, action
    return None


def budget_fraction_to_multiplier(env: Any, observations: dict[str, np.ndarray],
                                  fractions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``budget_fraction`` adapter: ask ``fraction`` of each buyer's budget, i.e. the env
    multiplier ``fraction / reserve_ratio - 1`` (ask = (1 + multiplier) x base cost, reserve_ratio
    = base cost / budget), clipped to the Box; empty slots get the low bound, as in
    :class:`agents.baselines.cloud_pricing.BudgetShadingPricing` (which is this map with one
    constant fraction). A learner-side reparameterization: the market is unchanged."""
    layout = env.unwrapped.layout
    out = {}
    for agent, fraction in fractions.items():
        space = env.action_space(agent)
        ratio = layout.get(observations[agent], "reserve_ratio")
        present = (layout.get(observations[agent], "present") > 0) & (ratio > 0)
        multiplier = np.where(present, np.asarray(fraction, np.float64)
                              / np.maximum(ratio, 1e-12) - 1.0, space.low)
        out[agent] = np.clip(multiplier, space.low, space.high).astype(space.dtype)
    return out


def train_maddpg(env: Any, seed: int, steps: int, show: bool, reward_sharing: str = "own",
                 action: str = "multiplier") -> tuple[Policy, dict[str, Any]]:
    """Train MADDPG pricing on ``env`` for ``steps`` env steps; return its greedy policy.
    ``reward_sharing``: ``"own"`` (each provider its utility, the paper) or ``"team"`` (every
    critic on the providers' summed utility, the metric), see :func:`maddpg_config`.
    ``action``: ``"multiplier"`` or ``"budget_fraction"`` (:data:`MADDPG_ACTIONS`); the learner
    stores and learns from its own actions (fractions), the env receives the adapted multipliers."""
    import torch

    from agents.maddpg import MADDPG

    if action not in MADDPG_ACTIONS:
        raise ValueError(f"action must be one of {tuple(MADDPG_ACTIONS)}; got {action!r}")

    def to_env(observations: dict[str, np.ndarray], actions: dict[str, np.ndarray],
               ) -> dict[str, np.ndarray]:
        if action == "budget_fraction":
            return budget_fraction_to_multiplier(env, observations, actions)
        return actions

    torch.set_num_threads(1)
    config = maddpg_config(steps, reward_sharing, action)
    learner = MADDPG(env, config, seed=seed)
    observations, _ = env.reset(seed=seed)
    returns: list[float] = []
    episode_return, last = 0.0, {}
    started = time.perf_counter()
    desc = f"{maddpg_row(reward_sharing, action)} seed {seed}"
    for _ in progress(range(steps), total=steps, desc=desc, enabled=show):
        actions = learner.act(observations, explore=True)
        next_observations, rewards, terminations, truncations, infos = env.step(
            to_env(observations, actions))
        learner.observe(Transition(observations, actions, rewards, next_observations,
                                   terminations, truncations, infos))
        last = learner.update() or last
        episode_return += float(sum(rewards.values()))
        observations = next_observations
        if not env.agents:
            learner.end_episode()
            returns.append(episode_return)
            episode_return = 0.0
            observations, _ = env.reset()
    info = {"train_steps": steps, "train_seconds": time.perf_counter() - started,
            "train_episode_returns": returns, "last_update": last,
            "config": config.to_dict(), "action": action}
    return (lambda observations: to_env(observations, learner.act(observations, explore=False))
            ), info


def maddpg_config(steps: int, reward_sharing: str = "own", action: str = "multiplier") -> Any:
    """MADDPG for the 7 pricing agents: standard MLP actors (2 x 64, each provider's own
    observation in, its 24 multipliers out); the same configuration for both reward settings
    except the reward scale (per-step rewards ~1e2 per provider, ~1e3 summed, scaled to ~1).

    Chosen on tuning episodes (training seeds 100+, evaluation seeds 20000+, never the reported
    ones; the sweep is in docs/results/rtrm_quick.txt):

    * [decision] one shared critic (EPyMARL style, agent-id input, one output per agent) on the
      joint observations: the joint observations carry every provider's per-buyer reserve ratio
      (the feature a per-buyer price needs); with the 263-number ``env.state()`` the team critic
      ended ~5% lower on the tuning episode;
    * ``gamma = 0.9``: capacity is booked for up to 24 steps, so a myopic critic (``gamma = 0``)
      learned to sell capacity cheaply now (the team total fell ~13% on the tuning episode);
    * actors start near the multiplier ``ACTOR_START_MULTIPLIER`` (``actor_init_unit``), inside
      the good region of the fixed-markup sweep, so the short budget refines rather than searches;
      exploration sigma 0.1 -> 0.02 (0.2 was worse), one update of 256 rows every 4 env steps;
    * ``action="budget_fraction"``: the actors start near the budget fraction
      ``ACTOR_START_FRACTION`` instead (the Box [0, 1] read as a fraction of the budget), with a
      slower actor (Adam 1e-4) and the TD3 tricks (twin critics, policy delay 2, target noise
      0.1): of the four settings in docs/results/rtrm_maddpg_v2_tuning.txt it drifted least from
      its good start (97.2k after 2,000 steps against 84.8k with the multiplier settings)."""
    from agents.maddpg import MADDPGConfig

    start = ACTOR_START_FRACTION if action == "budget_fraction" else ACTOR_START_MULTIPLIER
    start_unit = 2.0 * start - 1.0  # the [0, 1] Box in the actor's [-1, 1] units
    fraction = action == "budget_fraction"
    return MADDPGConfig(gamma=0.9, tau=0.01, batch_size=256, learning_starts=min(300, steps // 3),
                        update_every=4, buffer_size=max(steps, 1),
                        actor_lr=1e-4 if fraction else 1e-3, twin_critics=fraction,
                        policy_delay=2 if fraction else 1, target_noise=0.1 if fraction else 0.0,
                        reward_scale=1e-3 if reward_sharing == "team" else 1e-2,
                        noise_start=0.1, noise_end=0.02, noise_anneal_steps=max(steps // 2, 1),
                        critic_input="joint_obs", critic_sharing="shared",
                        reward_sharing=reward_sharing, actor_init_unit=start_unit)


def train_ppo(env: Any, seed: int, steps: int) -> tuple[Policy, dict[str, Any]]:
    """SB3 PPO, one policy shared by every provider (SuperSuit vector over the agents)."""
    import torch
    from stable_baselines3 import PPO

    from auction_envs.wrappers.sb3 import sb3_vec_env

    torch.set_num_threads(1)
    started = time.perf_counter()
    vector = sb3_vec_env(env)
    model = PPO("MlpPolicy", vector, n_steps=512, seed=seed, device="cpu", verbose=0)
    model.learn(total_timesteps=steps)
    space = env.action_space(env.possible_agents[0])

    def act(observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        agents = list(observations)
        batch = np.stack([observations[a] for a in agents])
        actions, _ = model.predict(batch, deterministic=True)
        return {a: np.clip(actions[k], space.low, space.high).astype(np.float32)
                for k, a in enumerate(agents)}
    return act, {"ppo_steps": steps, "train_seconds": time.perf_counter() - started}


#: Run-wide settings that do not change a cell's result (kept out of the cells' keys).
_SETTINGS = {"show_training": False}


def policy_cell(env_id: str, policy: str, seed: int, parameter: float, steps: int,
                eval_episodes: int, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """One (env, seed, policy) evaluation, a job of :func:`benchmarks.common.run_jobs`.

    ``policy`` is ``markup=x`` (``parameter`` = x), ``budget`` (budget shading, the fraction chosen
    on the training seed; ``parameter`` unused), ``CDARA`` / ``ICAA`` (``parameter`` = the
    providers' multiplier), ``MADDPG`` (own rewards), ``MADDPG-team`` (summed rewards) or ``PPO``
    (``parameter`` = training steps); every argument that changes the result is in the job, so it
    keys the stored cell."""
    eval_seed = EVAL_SEED_OFFSET + seed
    rtrm = functools.partial(make_env, env_id, "rtrm", steps, env_kwargs)
    if policy.startswith("markup=") or policy.lower() in BASELINES:
        mechanism = "rtrm" if policy.startswith("markup=") else policy.lower()
        env = make_env(env_id, mechanism, steps, env_kwargs)
        return evaluate(env, fixed_markup(env, parameter), eval_seed, eval_episodes)
    if policy == "budget":
        fraction, totals = select_budget_fraction(rtrm, seed)
        env = rtrm()
        return {**evaluate(env, budget_shading(env, fraction), eval_seed, eval_episodes),
                "train": {"fraction": fraction, "training_totals": totals}}
    maddpg = parse_maddpg_row(policy)
    if maddpg is not None:
        act, info = train_maddpg(rtrm(), seed, int(parameter), _SETTINGS["show_training"], *maddpg)
    elif policy == "PPO":
        act, info = train_ppo(rtrm(), seed, int(parameter))
    else:
        raise ValueError(f"policy must be markup=x, budget, CDARA, ICAA, MADDPG, MADDPG-team or "
                         f"PPO; got {policy!r}")
    return {**evaluate(rtrm(), act, eval_seed, eval_episodes), "train": info}


# ---------------------------------------------------------------------------- statistics
def mean_ci(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the first axis and the half-width of its 95% t-interval (0 for one value)."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    mean = values.mean(axis=0)
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, stats.t.ppf(0.975, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)


def per_seed(results: dict[str, Any], env_label: str, policy: str, key: str) -> np.ndarray:
    """``key`` per seed, over the seeds every policy of ``env_label`` has finished (so paired
    differences line up, also in a partial run)."""
    runs = results[env_label].get(policy, {})
    common = set.intersection(*(set(r) for r in results[env_label].values()))
    return np.array([runs[s][key] for s in sorted(common, key=int)], dtype=np.float64)


def fmt(mean: float, half: float, digits: int = 0) -> str:
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def best_markup(results: dict[str, Any], env_label: str) -> str:
    """The fixed markup with the highest mean total provider utility over seeds."""
    sweep = [p for p in results[env_label] if p.startswith("markup=")]
    return max(sweep, key=lambda p: per_seed(results, env_label, p, "total_provider_utility").mean())


# ---------------------------------------------------------------------------- claims
def paired_row(results: dict[str, Any], env_label: str, policy: str, reference: str,
               claim: str, key: str = "total_provider_utility") -> dict[str, str]:
    """``policy - reference`` on ``key``, paired per seed: reproduced when the 95% CI of the mean
    difference is above 0, partly when some seed is ahead, else not reproduced; a
    ``(reference)`` row (no paper claim) says ahead / level / behind by the same interval."""
    diff = per_seed(results, env_label, policy, key) - per_seed(results, env_label, reference, key)
    mean, half = mean_ci(diff)
    seeds = diff.size
    if claim.startswith("(reference)"):
        verdict = "ahead" if mean - half > 0 else "behind" if mean + half < 0 else "level"
    else:
        verdict = ("reproduced" if mean - half > 0 else "partly" if np.any(diff > 0)
                   else "not reproduced")
    return {"claim": claim,
            "ours": f"{policy} - {reference} = {fmt(mean, half)} per episode (paired, {seeds} "
                    f"seeds; {policy} ahead in {int(np.sum(diff > 0))}/{seeds})",
            "verdict": verdict}


def claims(results: dict[str, Any]) -> list[dict[str, str]]:
    """Each claim beside our paired per-seed evidence and a verdict. The paper's claims are
    judged for MADDPG with each provider's own reward (the paper's setting) and, as a separate
    row tagged ``[team reward]``, for MADDPG trained on the providers' summed reward."""
    rows: list[dict[str, str]] = []
    plain = "plain"
    learners = [row for row in results.get(plain, {}) if parse_maddpg_row(row) is not None]
    if not learners:
        return rows
    seeds = len(per_seed(results, plain, learners[0], "buyer_utility"))

    # (0) issue 14: learned pricing beats the best fixed markup on total provider utility
    best = best_markup(results, plain)
    for learner in learners:
        tag = TAGS[learner]
        rows.append(paired_row(results, plain, learner, best, "MADDPG pricing beats the best fixed "
                               f"markup on total provider utility{tag}"))
    if "budget" in results[plain]:
        rows.append(paired_row(results, plain, "budget", best, "(reference) budget shading, fraction "
                               "chosen on the training seeds, vs the best fixed markup"))
        for learner in learners:
            rows.append(paired_row(results, plain, learner, "budget", "(reference) MADDPG vs budget "
                                   f"shading (the best scripted per-buyer policy){TAGS[learner]}"))
    if "PPO" in results[plain]:
        diff = (per_seed(results, plain, "PPO", "total_provider_utility")
                - per_seed(results, plain, best, "total_provider_utility"))
        mean, half = mean_ci(diff)
        rows.append({"claim": "(reference) SB3 PPO with parameter sharing vs the best fixed markup",
                     "ours": f"PPO - {best} = {fmt(mean, half)} per episode (paired; PPO ahead in "
                             f"{int(np.sum(diff > 0))}/{diff.size})",
                     "verdict": "PPO ahead" if mean - half > 0 else "PPO not ahead"})

    for learner in learners:
        rows += paper_claims(results, learner, seeds, joint=learner == learners[0])
    return rows


#: Suffix of the claims judged for each MADDPG row.
#: The claim tag of each MADDPG row (reward setting, then action parameterization).
TAGS = {maddpg_row(sharing, action): (" [team reward]" if sharing == "team" else "")
        + (" [budget-fraction actions]" if action == "budget_fraction" else "")
        for sharing in MADDPG_ROWS for action in MADDPG_ACTIONS}


def paper_claims(results: dict[str, Any], learner: str, seeds: int,
                 joint: bool = True) -> list[dict[str, str]]:
    """Paper 004's claims (1)-(3) for the MADDPG row ``learner``; ``joint``: add the
    feasibility row of claims 1 and 2 together (the same for every learner)."""
    rows: list[dict[str, str]] = []
    plain, fair = "plain", "fair"
    for env_label in (plain, fair):
        if learner not in results.get(env_label, {}) or not all(
                b.upper() in results[env_label] for b in BASELINES):
            continue
        tag = ("" if env_label == plain else " (with fairness)") + TAGS[learner]
        ours = per_seed(results, env_label, learner, "provider_utility")  # (seeds, 7)
        above = {}
        for baseline in BASELINES:
            diff = ours - per_seed(results, env_label, baseline.upper(), "provider_utility")
            mean, half = mean_ci(diff)
            above[baseline] = mean - half > 0
        both = above["cdara"] & above["icaa"]
        n = both.size
        verdict = "reproduced" if both.all() else "partly" if both.any() else "not reproduced"
        rows.append({"claim": f"every provider's utility above CDARA and ICAA{tag}",
                     "ours": f"providers significantly above CDARA {int(above['cdara'].sum())}/{n}"
                             f", ICAA {int(above['icaa'].sum())}/{n}, both {int(both.sum())}/{n}"
                             " (paired 95% CI of the per-seed difference > 0)",
                     "verdict": verdict})
        buyer = per_seed(results, env_label, learner, "buyer_utility")
        ratios = {b: buyer / np.maximum(per_seed(results, env_label, b.upper(), "buyer_utility"),
                                        1e-9) for b in BASELINES}
        low = {b: mean_ci(r) for b, r in ratios.items()}
        holds = all(m - h >= 1.4 for m, h in low.values())
        some = any(m >= 1.4 for m, _ in low.values())
        rows.append({"claim": f"buyer utility >= 1.4x both baselines{tag}",
                     "ours": ", ".join(f"x{m:.2f} ± {h:.2f} vs {b.upper()}"
                                       for b, (m, h) in low.items()) + " (per-seed ratios)",
                     "verdict": "reproduced" if holds else "partly" if some else "not reproduced"})
        if not joint:
            continue
        # joint feasibility: what claims (1) and (2) need together vs what the market can produce
        need = (np.maximum(per_seed(results, env_label, "CDARA", "total_provider_utility"),
                           per_seed(results, env_label, "ICAA", "total_provider_utility"))
                + 1.4 * np.maximum(per_seed(results, env_label, "CDARA", "buyer_utility"),
                                   per_seed(results, env_label, "ICAA", "buyer_utility")))
        policies = [p for p in results[env_label] if p not in ("CDARA", "ICAA")]
        realized = np.max([per_seed(results, env_label, p, "surplus") for p in policies], axis=0)
        has_bound = all("surplus_bound" in run for p in policies
                        for run in results[env_label][p].values())
        bound = (np.max([per_seed(results, env_label, p, "surplus_bound") for p in policies],
                        axis=0) if has_bound else realized)
        short = need > bound
        rows.append({"claim": f"claims 1 and 2 jointly{tag} (provider + buyer utility needed vs "
                              "the surplus available)",
                     "ours": f"needed {need.mean():.0f} per episode vs "
                             f"{'surplus bound' if has_bound else 'largest realized RTRM surplus'}"
                             f" {bound.mean():.0f}; exceeds it in {int(short.sum())}/{seeds} seeds",
                     "verdict": ("infeasible" if has_bound and short.all() else
                                 "infeasible at the prices tried" if short.all() else "feasible")})
    if learner in results.get(fair, {}):
        every = per_seed(results, fair, learner, "all_providers_win")
        without = per_seed(results, plain, learner, "all_providers_win")
        drops = [per_seed(results, label, learner, "buyer_drops").mean() for label in (plain, fair)]
        rows.append({"claim": f"with fairness every provider wins in each episode{TAGS[learner]}",
                     "ours": f"fair {every.mean():.0%} of episodes, without fairness "
                             f"{without.mean():.0%}; buyer drops per episode {drops[1]:.2f} (fair) vs "
                             f"{drops[0]:.2f}",
                     "verdict": ("reproduced" if every.min() == 1.0 and without.mean() < 1.0 else
                                 "reproduced, but vacuous (every provider wins without fairness "
                                 "too)" if every.min() == 1.0 else
                                 "partly" if every.mean() > without.mean() else "not reproduced")})
    return rows


# ---------------------------------------------------------------------------- tables and figure
def table(results: dict[str, Any]) -> str:
    lines = []
    for env_label, runs in results.items():
        if not runs:
            continue
        lines.append(f"\n[{env_label}] per-episode means ± 95% CI over seeds")
        header = (f"{'policy':<11}" + "".join(f"{f'd{i + 1}':>14}" for i in range(7))
                  + f"{'providers':>18}{'buyers':>17}{'Jain':>15}{'all win':>9}{'drops':>8}")
        lines.append(header)
        for policy in runs:
            provider, p_half = mean_ci(per_seed(results, env_label, policy, "provider_utility"))
            total = mean_ci(per_seed(results, env_label, policy, "total_provider_utility"))
            buyer = mean_ci(per_seed(results, env_label, policy, "buyer_utility"))
            jain = mean_ci(per_seed(results, env_label, policy, "jain_wins"))
            every = per_seed(results, env_label, policy, "all_providers_win").mean()
            drops = per_seed(results, env_label, policy, "buyer_drops").mean()
            lines.append(f"{policy:<11}" + "".join(f"{fmt(m, h):>14}" for m, h in zip(provider, p_half))
                         + f"{fmt(*total):>18}{fmt(*buyer):>17}{fmt(*jain, 3):>15}{every:>9.0%}"
                         f"{drops:>8.2f}")
        seeds = sorted(set.intersection(*(set(r) for r in runs.values())), key=int)
        lines.append(f"total provider utility per seed (seeds {', '.join(seeds)}) / buyer utility "
                     "per seed")
        for policy in runs:
            totals = per_seed(results, env_label, policy, "total_provider_utility")
            buyers = per_seed(results, env_label, policy, "buyer_utility")
            extra = ""
            if policy == "budget":
                extra = "  fraction " + " ".join(f"{runs[policy][s]['train']['fraction']:g}"
                                                 for s in seeds)
            lines.append(f"  {policy:<11}" + " ".join(f"{t:>8.0f}" for t in totals) + "  /"
                         + " ".join(f"{b:>8.0f}" for b in buyers) + extra)
        wins = {p: per_seed(results, env_label, p, "wins").mean(axis=0) for p in runs}
        lines.append("wins per provider (mean): " + "; ".join(
            f"{p} " + "/".join(f"{w:.0f}" for w in v) for p, v in wins.items()
            if p in ("CDARA", "ICAA", "PPO") or parse_maddpg_row(p) is not None))
    return "\n".join(lines)


def plot(results: dict[str, Any], path: str) -> None:
    plt = plt_agg()
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    x = np.arange(7)
    shown = [p for p in results.get("plain", {}) if parse_maddpg_row(p) is not None]
    shown += [p for p in ("budget", "CDARA", "ICAA", "PPO") if p in results.get("plain", {})]
    best = best_markup(results, "plain")
    shown.append(best)
    width = 0.8 / len(shown)
    for k, policy in enumerate(shown):
        mean, half = mean_ci(per_seed(results, "plain", policy, "provider_utility"))
        axes[0, 0].bar(x + k * width, mean, width, yerr=half, label=policy, capsize=2)
    axes[0, 0].set_xticks(x + 0.4 - width / 2, [f"d{i + 1}" for i in range(7)])
    axes[0, 0].set_title("provider utility per episode (no fairness), 95% CI")
    axes[0, 0].legend(fontsize=8)
    # the paper's row (own rewards) when it ran, else the first MADDPG setting that did
    learners = sorted((row for row in results["plain"] if parse_maddpg_row(row) is not None),
                      key=lambda row: row != "MADDPG")
    for k, env_label in enumerate(("plain", "fair")):
        if learners and learners[0] in results.get(env_label, {}):
            mean, half = mean_ci(per_seed(results, env_label, learners[0], "wins"))
            axes[0, 1].bar(x + k * 0.4, mean, 0.4, yerr=half, capsize=2,
                           label=f"{learners[0]} {env_label}")
    axes[0, 1].set_xticks(x + 0.2, [f"d{i + 1}" for i in range(7)])
    axes[0, 1].set_title("wins per provider per episode")
    axes[0, 1].legend(fontsize=8)
    sweep = sorted((float(p.split("=")[1]), p) for p in results["plain"] if p.startswith("markup="))
    for env_label, style in (("plain", "-o"), ("fair", "--s")):
        if env_label not in results or not all(p in results[env_label] for _, p in sweep):
            continue
        stats = [mean_ci(per_seed(results, env_label, p, "total_provider_utility")) for _, p in sweep]
        axes[1, 0].errorbar([m for m, _ in sweep], [s[0] for s in stats], [s[1] for s in stats],
                            fmt=style, label=f"fixed markup ({env_label})", capsize=2)
        for policy, color in (("MADDPG", "tab:red"), ("MADDPG-team", "tab:orange"),
                              ("MADDPG-bf", "tab:brown"), ("MADDPG-team-bf", "tab:olive"),
                              ("budget", "tab:green"), ("PPO", "tab:purple")):
            if policy in results[env_label]:
                mean, half = mean_ci(per_seed(results, env_label, policy, "total_provider_utility"))
                axes[1, 0].axhspan(mean - half, mean + half, color=color,
                                   alpha=0.25 if env_label == "plain" else 0.1,
                                   label=f"{policy} ({env_label})")
    axes[1, 0].set_xlabel("fixed multiplier")
    axes[1, 0].set_title("total provider utility per episode (RTRM)")
    axes[1, 0].legend(fontsize=8)
    for env_label, style in (("plain", "-"), ("fair", "--")):
        for policy in ("MADDPG", "CDARA", "ICAA"):
            runs = results.get(env_label, {}).get(policy)
            if runs:
                drops = np.array([[e["buyer_drops"] for e in run["episodes"]] for run in runs.values()])
                axes[1, 1].plot(np.arange(1, drops.shape[1] + 1), drops.mean(axis=0), style,
                                marker="o", label=f"{policy} ({env_label})")
    axes[1, 1].set_xlabel("evaluation episode")
    axes[1, 1].set_title("buyer drops per episode (mean over seeds)")
    axes[1, 1].legend(fontsize=8)
    fig.suptitle("Paper 004 (RTRM) reproduction — short training budget, see the script's help")
    save_figure(fig, path)


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__, "python -m benchmarks.reproduce_rtrm")
    parser.add_argument("--quick", action="store_true",
                        help=f"the quick budget {QUICK} (default: the full one {FULL})")
    parser.add_argument("--env-id", default="auction_envs/CloudDoubleAuction-v1",
                        help="registered id of the market without fairness")
    parser.add_argument("--fair-env-id", default="auction_envs/CloudDoubleAuctionFair-v1",
                        help="registered id with the fairness mechanism ('' to skip)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds 0..n-1 (>= 5 "
                        "for claims)")
    parser.add_argument("--eval-episodes", type=int, default=None,
                        help="consecutive evaluation episodes per policy and seed")
    parser.add_argument("--train-steps", type=int, default=None, help="MADDPG env steps per seed")
    parser.add_argument("--ppo-steps", type=int, default=None,
                        help="PPO agent-steps per seed (0: no PPO)")
    parser.add_argument("--markups", type=float, nargs="+", default=None,
                        help="fixed multipliers of the scripted sweep")
    parser.add_argument("--maddpg", nargs="*", choices=MADDPG_ROW_NAMES, default=None,
                        metavar="ROW",
                        help="MADDPG rows to train, of " + ", ".join(MADDPG_ROW_NAMES) + ": "
                             "'-team' trains every critic on the providers' summed utility (the "
                             "metric; without it each provider's own utility, the paper's), '-bf' "
                             "makes the actor ask a fraction of each buyer's budget (without it "
                             "the env's multiplier, the paper's); none: no MADDPG (quick default: "
                             f"{' '.join(QUICK['maddpg'])}; full: {' '.join(FULL['maddpg'])})")
    parser.add_argument("--maddpg-rewards", nargs="+", choices=tuple(MADDPG_ROWS), default=None,
                        help="older spelling of --maddpg: the reward settings (own, team), each "
                             "with --maddpg-action")
    parser.add_argument("--maddpg-action", choices=tuple(MADDPG_ACTIONS), default=None,
                        help="older spelling of --maddpg: the action parameterization "
                             "(multiplier or budget_fraction) of the --maddpg-rewards rows")
    parser.add_argument("--fair-rows", choices=("all", "paper"), default=None,
                        help="rows on the fair env: all, or only CDARA, ICAA and MADDPG (own) that "
                             "the paper's claims read (quick default: paper; full: all)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes for the (env, seed, policy) cells (default 1)")
    parser.add_argument("--baseline-markup", type=float, default=0.2,
                        help="multiplier the providers send under CDARA/ICAA (default 0.2)")
    parser.add_argument("--steps", type=int, default=100,
                        help="steps per episode (default 100, the paper's fairness experiment)")
    parser.add_argument("--env-kwargs", type=str, default="{}",
                        help="JSON dict of extra env arguments (e.g. '{\"step_seconds\": 2}')")
    parser.add_argument("--report", default=None, metavar="JSON",
                        help="run nothing: print the tables and claims (and --png) of a JSON "
                             "written by an earlier run, finished or not")
    add_output_arguments(parser, png=True)
    args = parser.parse_args(argv)
    import json

    if args.report:
        with open(args.report) as stream:
            saved = json.load(stream)
        report(saved["results"], saved.get("args", {}), saved.get("envs", {}), args.png)
        return 0

    budget = dict(QUICK if args.quick else FULL)
    for key in ("seeds", "eval_episodes", "train_steps", "ppo_steps", "markups", "fair_rows",
                "maddpg"):
        if getattr(args, key) is not None:
            budget[key] = getattr(args, key)
    if args.maddpg_rewards is not None or args.maddpg_action is not None:
        if args.maddpg is not None:
            parser.error("--maddpg replaces --maddpg-rewards/--maddpg-action: give one of them")
        budget["maddpg"] = [maddpg_row(sharing, args.maddpg_action or "multiplier")
                            for sharing in args.maddpg_rewards or list(MADDPG_ROWS)]
    budget["maddpg"] = list(budget["maddpg"])
    env_kwargs = json.loads(args.env_kwargs)
    for name in ("seeds", "eval_episodes", "train_steps"):
        if budget[name] < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {budget[name]}")
    show = not args.no_progress
    envs = {"plain": args.env_id}
    if args.fair_env_id:
        envs["fair"] = args.fair_env_id
    recorded = {k: v for k, v in vars(args).items() if k != "restart"}
    output = IncrementalResults(args.json, {"args": {**recorded, **budget},
                                            "envs": envs, "results": {k: {} for k in envs}})
    results = output.payload["results"]
    # one cell per (env, seed, policy), in the order the loop used to run them
    cells = []
    for env_label, seed in [(label, seed) for label in envs for seed in range(budget["seeds"])]:
        every_row = env_label == "plain" or budget["fair_rows"] == "all"
        policies = [(f"markup={m:g}", m) for m in budget["markups"]] if every_row else []
        if every_row:
            policies.append(("budget", 0.0))
        policies += [(b.upper(), args.baseline_markup) for b in BASELINES]
        policies += [(row, budget["train_steps"]) for row in budget["maddpg"]
                     if every_row or parse_maddpg_row(row)[0] == "own"]
        if env_label == "plain" and budget["ppo_steps"] > 0:
            policies.append(("PPO", budget["ppo_steps"]))
        cells += [(env_label, name, seed, parameter) for name, parameter in policies]
    jobs = [(envs[label], name, seed, parameter, args.steps, budget["eval_episodes"], env_kwargs)
            for label, name, seed, parameter in cells]

    def record(index: int, value: dict[str, Any]) -> None:
        env_label, policy, seed, _ = cells[index]
        results[env_label].setdefault(policy, {})[str(seed)] = value
        output.write()

    if args.workers < 1:
        parser.error(f"--workers must be >= 1; got {args.workers}")
    _SETTINGS["show_training"] = show and args.workers == 1  # per-step bars only in one process
    values = run_jobs(policy_cell, jobs, workers=args.workers, on_result=record, show_progress=show,
                      desc="env x seed x policy",
                      store=cell_store(args))  # a rerun with the same --json runs only missing cells
    results = {label: {} for label in envs}  # in the order of the cells, resumed or not
    for (env_label, policy, seed, _), value in zip(cells, values):
        results[env_label].setdefault(policy, {})[str(seed)] = value
    output.payload["results"] = results
    output.update(claims=report(results, {**vars(args), **budget}, envs, args.png))
    return 0


def report(results: dict[str, Any], budget: dict[str, Any], envs: dict[str, str],
           png: str | None) -> list[dict[str, str]]:
    """Print the budget, the tables and the claims; write the figure; return the claims."""
    done = {label: {p: len(r) for p, r in runs.items()} for label, runs in results.items()}
    keys = ("seeds", "eval_episodes", "train_steps", "ppo_steps", "markups", "fair_rows", "maddpg",
            "steps")
    print(f"budget: { {k: budget.get(k) for k in keys} }; env ids {envs}; seeds finished per "
          f"policy {done}; evaluation seeds {EVAL_SEED_OFFSET}+seed (paired across policies). "
          "Training is far below the paper's 12,000 x 2,000 steps.")
    results = {label: runs for label, runs in results.items() if runs}
    print(table(results))
    rows = claims(results)
    print("\nPaper 004's claims beside ours:")
    for row in rows:
        print(f"  - {row['claim']}\n      ours: {row['ours']}\n      -> {row['verdict']}")
    if png:
        plot(results, png)
        print(f"figure: {png}")
    return rows


if __name__ == "__main__":
    sys.exit(main())
