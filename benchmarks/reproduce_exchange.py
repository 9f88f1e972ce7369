"""Reproduce paper 003 (Figure 1 and Appendix D): cumulative CE loss of Algorithm 1 against T.

``python -m benchmarks.reproduce_exchange`` runs Algorithm 1 (``agents.exchange.BanditCE``) and the
greedy plug-in baseline (``GreedyCE``, no exploration) through the mechanism env
(``auction_envs/ExchangeEconomyMechanism-v0``) for

* CES utilities, m = 3 goods, n = 5 agents, rho in {0.25, 0.5, 0.75};
* Amdahl utilities, m = 2 goods, n = 8 agents, F in {0.5, 0.8, 0.95}

(the paper does not give its rho and F [decision]), over several seeds (each seed draws its own
economy, the same one for both learners). It prints, per setting and learner, the cumulative CE
loss at T and growth exponents alpha of ``L(t) ~ c t^alpha`` fitted on log-log axes per seed, with
their mean and a 95% t-interval over seeds: ``alpha`` for the loss accumulated after the
initialization phase (whose first rounds, each good given wholly to one agent, cost a large
constant that would flatter any fit of the total; a learner that stops improving has alpha = 1),
fitted over its last 90% (and, for the verdict line, over its second half alone: the late
growth, less flattered by the early decay); ``alpha_total`` for the whole cumulative loss over
``[T/10, T]``. Sublinear means alpha's interval lies below 1. It also prints the convergence of proportional
response dynamics (PRD) per family, linear utilities included (iterations until PRD's iterate
passes the CE verification at 1e-6; measured geometric rate per iteration).

Outputs: a log-log PNG (``--png``), the table beside the paper's claim, and ``--json PATH`` (with
every run's per-round losses), rewritten after each finished run (the summary rows are added at
the end). One cell = one (setting, learner, seed); finished cells are appended to
``PATH.cells.jsonl`` (``benchmarks.common.CellStore``) and a rerun with the same ``--json PATH``
runs only the missing ones (``--restart``: all), so a killed run keeps its finished cells. Cells
run setting by setting in the order of ``--settings``.
``--from-json PATH`` re-prints (and re-plots) a stored run without running anything, paired
comparison and verdicts included.

Greedy against Algorithm 1 is compared *paired per seed* (same economy, same report noise):
per-seed differences of the loss after initialization, their mean and 95% t-interval, the
number of seeds where greedy did better, and a verdict that can go either way. Each run also
records what the learner knows at checkpoints (smallest / largest eigenvalue of the design
matrices, estimate error), the diagnostic of why a learner's loss stays linear; ``--corners``
runs the per-agent version of it (is the agent at a corner of the true CE, how often was she
played at one, her weak eigenvalue and the error along it, her share of the late loss).

Stored runs (docs/results/exchange_*.json, .txt, docs/figures/exchange_*.png; the commands are
in each txt): the full horizon ``--T 8000 --seeds 5`` for all six settings
(``exchange_T8000_s5``, 68 minutes on a shared core, about 2-3 ms of CPU per round);
``--T 1500`` (all settings) and ``--T 4000`` (Amdahl) runs; ``--corners --T 3000`` (Amdahl).
Seeds are reproducible bit for bit on one machine; the CES learner amplifies a last-bit
difference (1e-16 in one round's CE grows to 1e-7 of the loss within 200 rounds), so a batched
evaluation whose last bits differ (a market-demand row's depend on its batch) is not used.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

import auction_envs
from agents.base import Transition
from agents.exchange import BanditCE, GreedyCE
from auction_envs.oracles.exchange import ce_loss, prd_convergence
from benchmarks.common import (
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    run_jobs,
    save_figure,
)

SETTINGS: list[tuple[str, str, dict[str, Any]]] = [
    ("CES rho=0.25", "auction_envs/ExchangeEconomyMechanism-v0", {"rho": 0.25}),
    ("CES rho=0.5", "auction_envs/ExchangeEconomyMechanism-v0", {"rho": 0.5}),
    ("CES rho=0.75", "auction_envs/ExchangeEconomyMechanism-v0", {"rho": 0.75}),
    ("Amdahl F=0.5", "auction_envs/ExchangeEconomyMechanismAmdahl-v0", {"F": 0.5}),
    ("Amdahl F=0.8", "auction_envs/ExchangeEconomyMechanismAmdahl-v0", {"F": 0.8}),
    ("Amdahl F=0.95", "auction_envs/ExchangeEconomyMechanismAmdahl-v0", {"F": 0.95}),
]
LEARNERS = {"Algorithm 1": BanditCE, "greedy": GreedyCE}
PAPER_CLAIM = "cumulative CE loss grows sublinearly in T (paper: O(sqrt(T)) up to log factors)"


def _play(env_id: str, env_kwargs: dict[str, Any], learner_name: str, seed: int, T: int,
          nu_scale: float, init_phases: int,
          on_round: Callable[[int, dict[str, Any], Any, BanditCE], None]) -> BanditCE:
    """Run one learner through the mechanism env for ``T`` rounds; ``on_round(t, info, env,
    learner)`` sees every round (``t`` counts from 1, ``info`` is the mechanism's infos)."""
    env = auction_envs.make(env_id, max_cycles=T, **env_kwargs)
    observations, _ = env.reset(seed=seed)
    learner = LEARNERS[learner_name].from_env(env, seed=seed + 10_000, nu_scale=nu_scale,
                                              init_phases=init_phases)
    t = 0
    while env.agents:
        actions = learner.act(observations)
        next_observations, rewards, terminations, truncations, infos = env.step(actions)
        learner.observe(Transition(observations, actions, rewards, next_observations,
                                   terminations, truncations, infos))
        observations = next_observations
        t += 1
        on_round(t, infos["mechanism"], env, learner)
    return learner


def run_one(setting: str, env_id: str, env_kwargs: dict[str, Any], learner_name: str, seed: int,
            T: int, nu_scale: float, init_phases: int) -> dict[str, Any]:
    """One (setting, learner, seed) run; returns the per-round CE losses and timing."""
    losses = np.empty(T)
    checkpoints = sorted({c for c in (25, 50, 100, 200, 500, 1000, 2000, 4000, 8000, T) if c <= T})
    diagnostics = []

    def record(t: int, info: dict[str, Any], env: Any, learner: BanditCE) -> None:
        losses[t - 1] = info["ce_loss"]
        if t in checkpoints:  # the truth, for the diagnostics only
            diagnostics.append(learning_diagnostics(learner, env.unwrapped.economy.theta, t))

    start = time.perf_counter()
    learner = _play(env_id, env_kwargs, learner_name, seed, T, nu_scale, init_phases, record)
    return {"setting": setting, "learner": learner_name, "seed": seed, "losses": losses,
            "seconds": time.perf_counter() - start, "init_rounds": learner.init_rounds,
            "diagnostics": diagnostics}


def corner_diagnostics(setting: str, env_id: str, env_kwargs: dict[str, Any], learner_name: str,
                       seed: int, T: int, nu_scale: float, init_phases: int) -> dict[str, Any]:
    """Why a learner's loss stays (near-)linear, per agent: is she at a corner of the true CE
    (less than 1e-9 of some good), how often the played allocation leaves her at a corner after
    the initialization, the smallest eigenvalue of her design matrix ``V_i`` at ``T`` and the
    estimate's error along its eigenvector (the weak direction) and along the other one, and her
    share of the CE loss summed over the last ``T/10`` rounds (per-agent CE loss, exact)."""
    n_corner = []
    late = max(T // 10, 1)
    late_loss: list[np.ndarray] = []

    def record(t: int, info: dict[str, Any], env: Any, learner: BanditCE) -> None:
        if t > learner.init_rounds:
            n_corner.append(info["allocation"].min(axis=1) < 1e-9)
        if t > T - late:
            economy = env.unwrapped.economy
            late_loss.append(ce_loss(info["allocation"], info["prices"], economy.theta,
                                     economy.endowments, economy.family, per_agent=True))

    state: dict[str, Any] = {}

    def capture(t: int, info: dict[str, Any], env: Any, learner: BanditCE) -> None:
        record(t, info, env, learner)
        if t == T:
            state["theta"] = env.unwrapped.economy.theta.copy()
            state["ce_allocation"] = env.unwrapped.equilibrium()[0]

    learner = _play(env_id, env_kwargs, learner_name, seed, T, nu_scale, init_phases, capture)
    eigenvalues, vectors = np.linalg.eigh(learner.gram)  # ascending, per agent
    error = learner.theta_tilde - state["theta"]
    along = np.abs(np.einsum("nmk,nm->nk", vectors, error))  # |v_k . error| per eigenvector
    loss = np.sum(late_loss, axis=0)
    return {"setting": setting, "learner": learner_name, "seed": seed, "T": T,
            "ce_corner": (state["ce_allocation"].min(axis=1) < 1e-9).tolist(),
            "played_corner_share": np.mean(n_corner, axis=0).tolist(),
            "weak_eigenvalue": eigenvalues[:, 0].tolist(),
            "strong_eigenvalue": eigenvalues[:, -1].tolist(),
            "weak_error": along[:, 0].tolist(), "strong_error": along[:, -1].tolist(),
            "late_loss": loss.tolist()}


def corner_summary(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (setting, learner), over seeds and agents: agents at a corner of the true CE against
    interior ones: how many, how often they were played at a corner, the median smallest
    eigenvalue of ``V_i``, the mean estimate error along the weak and the strong direction, and
    the share of the last-``T/10`` CE loss they carry."""
    rows = []
    for setting, _, _ in SETTINGS:
        for learner in LEARNERS:
            chosen = [c for c in cells if c["setting"] == setting and c["learner"] == learner]
            if not chosen:
                continue

            def stack(key: str, chosen: list[dict[str, Any]] = chosen) -> np.ndarray:
                return np.concatenate([np.asarray(c[key], dtype=np.float64) for c in chosen])

            corner = stack("ce_corner").astype(bool)
            loss = stack("late_loss")
            row = {"setting": setting, "learner": learner, "seeds": len(chosen),
                   "T": chosen[0]["T"], "agents": int(corner.size),
                   "late_loss_total": float(loss.sum() / len(chosen))}
            for name, mask in (("corner", corner), ("interior", ~corner)):
                row[name] = {
                    "agents": int(mask.sum()),
                    "played_corner_share": float(np.mean(stack("played_corner_share")[mask]))
                    if mask.any() else float("nan"),
                    "weak_eigenvalue_median": float(np.median(stack("weak_eigenvalue")[mask]))
                    if mask.any() else float("nan"),
                    "weak_error_mean": float(np.mean(stack("weak_error")[mask]))
                    if mask.any() else float("nan"),
                    "strong_error_mean": float(np.mean(stack("strong_error")[mask]))
                    if mask.any() else float("nan"),
                    "late_loss_share": float(loss[mask].sum() / loss.sum()) if loss.sum() > 0
                    else float("nan"),
                }
            rows.append(row)
    return rows


def print_corner_report(rows: list[dict[str, Any]]) -> None:
    print("\nCorner diagnostics: agents at a corner of the true CE (< 1e-9 of some good) against "
          "interior agents, over seeds x agents, at T; 'played at corner' = share of rounds after "
          "initialization whose allocation left the agent at a corner; errors along the smallest "
          "(weak) and largest eigenvector of V_i; loss share = share of the CE loss summed over "
          "the last T/10 rounds")
    print(f"  {'setting':<15} {'learner':<12} {'T':>5} {'agents':<8} {'played at corner':>17} "
          f"{'weak eig (median)':>18} {'weak error':>11} {'strong error':>13} {'loss share':>11}"
          f" {'late loss/seed':>15}")
    for r in rows:
        for name in ("corner", "interior"):
            g = r[name]
            print(f"  {r['setting']:<15} {r['learner']:<12} {r['T']:>5} "
                  f"{g['agents']:>3} {name:<8} {g['played_corner_share']:13.3f}     "
                  f"{g['weak_eigenvalue_median']:14.2f}     {g['weak_error_mean']:11.4f} "
                  f"{g['strong_error_mean']:13.4f} {g['late_loss_share']:11.3f} "
                  f"{r['late_loss_total']:15.4f}")


def learning_diagnostics(learner: BanditCE, theta: np.ndarray, t: int) -> dict[str, float]:
    """What the learner knows at round ``t``: the smallest and largest eigenvalue of each agent's
    design matrix ``V_i`` (mean over agents; a direction whose eigenvalue stops growing is never
    learned), and the estimate's error ``||theta_tilde_i - theta_i||`` (mean and max)."""
    eigenvalues = np.linalg.eigvalsh(learner.gram)  # (n, m), ascending
    errors = np.linalg.norm(learner.theta_tilde - theta, axis=1)
    return {"t": t, "min_eigenvalue": float(eigenvalues[:, 0].mean()),
            "max_eigenvalue": float(eigenvalues[:, -1].mean()),
            "error_mean": float(errors.mean()), "error_max": float(errors.max())}


def growth_exponent(cumulative: np.ndarray, start: int) -> float:
    """Slope of ``log L(t)`` on ``log t`` over ``t >= start`` (t = 1..T)."""
    t = np.arange(1, len(cumulative) + 1)
    keep = (t >= start) & (cumulative > 0)
    return float(np.polyfit(np.log(t[keep]), np.log(cumulative[keep]), 1)[0])


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1)
                 / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def prd_table(iterations: int = 2000, instances: int = 10) -> list[dict[str, Any]]:
    """PRD convergence per family over random instances (linear utilities included): the
    iterations its iterate needs to pass the CE verification at 1e-6 (median, max; "never" within
    ``iterations``) and the measured geometric rate per iteration (median)."""
    rows = []
    cases = [("linear (rho=1)", "linear", {}, 5, 3)]
    cases += [(f"CES rho={r}", "ces", {"rho": r}, 5, 3) for r in (0.25, 0.5, 0.75, 0.95)]
    cases += [(f"Amdahl F={f}", "amdahl", {"F": f}, 8, 2) for f in (0.5, 0.8, 0.95)]
    for k, (name, family, params, n, m) in enumerate(cases):
        rng = np.random.default_rng([0, k])
        needed, rates = [], []
        for _ in range(instances):
            theta = rng.uniform(0.1, 1.0, (n, m))
            endowments = rng.dirichlet(np.ones(n), size=m).T
            report = prd_convergence(theta, endowments, family, iterations=iterations,
                                     stop_below=1e-12, **params)
            reached = report["iterations_to_1e-6"]
            needed.append(np.inf if reached is None else reached)
            rates.append(report["rate"])
        needed = np.array(needed, dtype=np.float64)
        rows.append({"family": name, "instances": instances, "iterations": iterations,
                     "median_iterations_to_1e-6": float(np.median(needed)),
                     "max_iterations_to_1e-6": float(needed.max()),
                     "never_within_budget": int(np.sum(~np.isfinite(needed))),
                     "median_rate_per_iteration": float(np.nanmedian(rates))})
    return rows


def summarize(runs: list[dict[str, Any]], T: int) -> list[dict[str, Any]]:
    """Per (setting, learner): cumulative loss at T, and two growth exponents with 95% t-intervals
    over seeds: ``exponent`` of the loss accumulated *after* the initialization phase (the
    learning part: a learner that stops improving has exponent 1 here), fitted over its last 90%,
    and ``exponent_total`` of the whole cumulative loss, fitted over ``[T/10, T]`` (flattered by
    the initialization phase's large constant)."""
    rows = []
    for setting, _, _ in SETTINGS:
        for learner in LEARNERS:
            chosen = [r for r in runs if r["setting"] == setting and r["learner"] == learner]
            if not chosen:
                continue
            init = chosen[0]["init_rounds"]
            cumulative = [np.cumsum(r["losses"]) for r in chosen]
            after = [np.cumsum(r["losses"][init:]) for r in chosen]
            exponents = [growth_exponent(c, max((T - init) // 10, 1)) for c in after]
            late_exponents = [growth_exponent(c, max((T - init) // 2, 1)) for c in after]
            totals = [growth_exponent(c, max(T // 10, 1)) for c in cumulative]
            alpha, low, high = mean_ci(exponents)
            total, total_low, total_high = mean_ci(totals)
            late, late_low, late_high = mean_ci(late_exponents)
            final, final_low, final_high = mean_ci([float(c[-1]) for c in cumulative])
            learning = mean_ci([float(c[-1]) for c in after])
            last = mean_ci([float(np.mean(r["losses"][-max(T // 10, 1):])) for r in chosen])
            rows.append({
                "setting": setting, "learner": learner, "seeds": len(chosen), "T": T,
                "init_rounds": init,
                "cumulative_ce_loss": final, "cumulative_ci": [final_low, final_high],
                "cumulative_after_init": learning[0],
                "cumulative_after_init_ci": [learning[1], learning[2]],
                "exponent": alpha, "exponent_ci": [low, high], "exponents": exponents,
                "exponent_late": late, "exponent_late_ci": [late_low, late_high],
                "exponents_late": late_exponents,
                "exponent_total": total, "exponent_total_ci": [total_low, total_high],
                "final_mean_loss": last[0], "sublinear": bool(high < 1.0),
                "seconds": float(np.mean([r.get("seconds", np.nan) for r in chosen])),
            })
    return rows


def paired_comparison(runs: list[dict[str, Any]], setting: str, level: float = 0.95
                      ) -> dict[str, Any] | None:
    """Greedy against Algorithm 1, paired per seed (same economy, same report noise: the env's
    generator draws the same noise whatever the mechanism plays).

    Per seed ``d_s = L_greedy - L_alg1`` of the loss accumulated after the initialization phase
    (> 0: Algorithm 1 did better), and the same for the growth exponent. Returns the per-seed
    differences, their mean and ``level`` t-interval, the number of seeds where greedy did better,
    and a verdict that can go either way: ``"Algorithm 1 lower"`` if the interval lies above 0,
    ``"greedy lower"`` if below, else ``"no difference shown"``.
    """
    by_learner: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        if r["setting"] == setting:
            by_learner.setdefault(r["learner"], {})[r["seed"]] = r
    alg, greedy = by_learner.get("Algorithm 1", {}), by_learner.get("greedy", {})
    seeds = sorted(set(alg) & set(greedy))
    if not seeds:
        return None

    def after_init(r: dict[str, Any]) -> np.ndarray:
        return np.cumsum(np.asarray(r["losses"])[r["init_rounds"]:])

    loss_diff, exponent_diff = [], []
    for seed in seeds:
        a, g = after_init(alg[seed]), after_init(greedy[seed])
        loss_diff.append(float(g[-1] - a[-1]))
        start = max(len(a) // 10, 1)
        exponent_diff.append(growth_exponent(g, start) - growth_exponent(a, start))
    mean, low, high = mean_ci(loss_diff, level)
    e_mean, e_low, e_high = mean_ci(exponent_diff, level)

    def verdict(lo: float, hi: float) -> str:
        if lo > 0:
            return "Algorithm 1 lower"
        if hi < 0:
            return "greedy lower"
        return "no difference shown"

    return {"setting": setting, "seeds": seeds,
            "loss_difference_per_seed": loss_diff,
            "loss_difference": mean, "loss_difference_ci": [low, high],
            "greedy_better_seeds": int(np.sum(np.array(loss_diff) < 0)),
            "loss_verdict": verdict(low, high),
            "exponent_difference_per_seed": exponent_diff,
            "exponent_difference": e_mean, "exponent_difference_ci": [e_low, e_high],
            "exponent_verdict": verdict(e_low, e_high)}


def sublinearity_verdict(row: dict[str, Any]) -> str:
    """``"sublinear"`` if the growth exponent's interval lies below 1, ``"superlinear"`` if above,
    else ``"not settled"`` (the interval contains 1: linear growth is not excluded)."""
    low, high = row["exponent_ci"]
    if high < 1.0:
        return "sublinear"
    if low > 1.0:
        return "superlinear"
    return "not settled (interval contains 1)"


def plot(runs: list[dict[str, Any]], T: int, path: str) -> None:
    plt = plt_agg()
    fig, axes = plt.subplots(2, 3, figsize=(14, 8), sharex=True)
    colors = {"Algorithm 1": "tab:blue", "greedy": "tab:red"}
    for ax, (setting, _, _) in zip(axes.ravel(), SETTINGS):
        chosen = [r for r in runs if r["setting"] == setting]
        if not chosen:
            continue
        init = chosen[0]["init_rounds"]
        t = np.arange(1, T - init + 1)
        for learner, color in colors.items():
            curves = np.array([np.cumsum(r["losses"][init:]) for r in chosen
                               if r["learner"] == learner])
            if not len(curves):
                continue
            ax.loglog(t, curves.mean(axis=0), color=color, label=learner)
            ax.fill_between(t, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.2)
        anchor = np.mean([np.sum(r["losses"][init:]) for r in chosen])
        ax.loglog(t, anchor * (t / t[-1]) ** 0.5, "k:", lw=1, label="slope 1/2")
        ax.loglog(t, anchor * (t / t[-1]), "k--", lw=1, label="slope 1")
        ax.set_title(setting)
        ax.set_xlabel("rounds after initialization")
        ax.set_ylabel("cumulative CE loss")
        ax.grid(True, which="both", alpha=0.3)
    drawn = [ax for ax in axes.ravel() if ax.lines]
    if drawn:  # a partial run may leave the first panels empty
        drawn[0].legend(fontsize=8)
    fig.suptitle("Paper 003: cumulative CE loss after the initialization phase "
                 "(mean over seeds, band = min..max)")
    save_figure(fig, path)


def _run_record(r: dict[str, Any]) -> dict[str, Any]:
    """A run as the JSON has it (losses as a list, no timing)."""
    return {"setting": r["setting"], "learner": r["learner"], "seed": r["seed"],
            "init_rounds": r["init_rounds"], "seconds": r.get("seconds", float("nan")),
            "diagnostics": r.get("diagnostics", []), "losses": r["losses"].tolist()}


def _as_run(r: dict[str, Any]) -> dict[str, Any]:
    """A run with its losses as a float64 array (the cell store hands back decoded JSON; floats
    round-trip exactly)."""
    return {**r, "losses": np.asarray(r["losses"], dtype=np.float64)}


def load_runs(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header (T, seeds, nu_scale, init_phases, command) and the runs of a stored JSON."""
    with open(path) as handle:
        data = json.load(handle)
    runs = [_as_run(r) for r in data["runs"]]
    header = {k: data[k] for k in ("T", "seeds", "nu_scale", "init_phases", "command") if k in data}
    return header, runs


def print_report(rows: list[dict[str, Any]], pairs: list[dict[str, Any]],
                 runs: list[dict[str, Any]], header: dict[str, Any]) -> None:
    print(f"\nPaper 003 reproduction: T = {header['T']}, seeds = {header['seeds']}, nu_scale = "
          f"{header['nu_scale']}, q = {header['init_phases']}")
    if header.get("command"):
        print(f"made by: {header['command']}")
    print(f"Paper's claim: {PAPER_CLAIM}.")
    print("alpha: growth exponent of the cumulative CE loss after the initialization phase "
          "(1 = linear); alpha_total: of the whole cumulative loss.")
    print(f"{'setting':<15} {'learner':<12} {'seeds':>5} {'cum. CE loss at T (95% CI)':<29} "
          f"{'alpha (95% CI)':<23} {'alpha_total (95% CI)':<23} {'loss/round, last T/10':>21}")
    for r in rows:
        print(f"{r['setting']:<15} {r['learner']:<12} {r['seeds']:>5} "
              f"{r['cumulative_ce_loss']:8.3f} [{r['cumulative_ci'][0]:7.3f}, "
              f"{r['cumulative_ci'][1]:7.3f}]   {r['exponent']:.3f} [{r['exponent_ci'][0]:.3f}, "
              f"{r['exponent_ci'][1]:.3f}]   {r['exponent_total']:.3f} "
              f"[{r['exponent_total_ci'][0]:.3f}, {r['exponent_total_ci'][1]:.3f}]   "
              f"{r['final_mean_loss']:18.5f}")
    print("\nGreedy vs Algorithm 1, paired per seed (same economy, same noise): d = greedy - "
          "Algorithm 1 of the loss after initialization (> 0: Algorithm 1 better)")
    print(f"  {'setting':<15} {'d per seed':<44} {'mean d (95% CI)':<28} {'greedy better':>13}  "
          f"{'verdict':<20} {'alpha difference (95% CI)':<28}")
    for p in pairs:
        per_seed = " ".join(f"{d:+.2f}" for d in p["loss_difference_per_seed"])
        print(f"  {p['setting']:<15} {per_seed:<44} {p['loss_difference']:+7.3f} "
              f"[{p['loss_difference_ci'][0]:+.3f}, {p['loss_difference_ci'][1]:+.3f}]   "
              f"{p['greedy_better_seeds']:>5} of {len(p['seeds']):<5}  {p['loss_verdict']:<20} "
              f"{p['exponent_difference']:+.3f} [{p['exponent_difference_ci'][0]:+.3f}, "
              f"{p['exponent_difference_ci'][1]:+.3f}]")
    print("\nPer-setting verdict on the paper's claim (Algorithm 1's alpha):")
    for r in rows:
        if r["learner"] == "Algorithm 1":
            pair = next((p for p in pairs if p["setting"] == r["setting"]), None)
            versus = f"; against greedy: {pair['loss_verdict']}" if pair else ""
            late = (f"; over the second half alone {r['exponent_late']:.2f} "
                    f"[{r['exponent_late_ci'][0]:.2f}, {r['exponent_late_ci'][1]:.2f}]"
                    if "exponent_late" in r else "")
            print(f"  {r['setting']:<15} {sublinearity_verdict(r)} at T = {r['T']} "
                  f"(alpha {r['exponent']:.2f} [{r['exponent_ci'][0]:.2f}, "
                  f"{r['exponent_ci'][1]:.2f}], {r['seeds']} seeds{late}){versus}")
    diagnostics = [r for r in runs if r.get("diagnostics")]
    if diagnostics:
        print("\nWhat the learners know (mean over seeds): smallest / largest eigenvalue of the "
              "design matrices V_i and the estimate's error ||theta_tilde - theta|| (mean over "
              "agents), at T/10 and T:")
        for setting, _, _ in SETTINGS:
            for learner in LEARNERS:
                chosen = [r["diagnostics"] for r in diagnostics
                          if r["setting"] == setting and r["learner"] == learner]
                if not chosen:
                    continue
                first = next(d for d in chosen[0] if d["t"] >= header["T"] // 10)["t"]
                cells = []
                for t in (first, header["T"]):
                    picked = [next(d for d in c if d["t"] == t) for c in chosen]
                    cells.append(f"t={t}: min eig {np.mean([d['min_eigenvalue'] for d in picked]):8.1f}"
                                 f" max eig {np.mean([d['max_eigenvalue'] for d in picked]):8.1f}"
                                 f" error {np.mean([d['error_mean'] for d in picked]):.4f}")
                print(f"  {setting:<15} {learner:<12} " + " | ".join(cells))


def parse_settings(parser: Any, text: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The settings named by ``--settings`` (``"all"`` or distinct indices 0-5, in the order
    given); anything else is a parser error naming the argument."""
    if text == "all":
        return list(SETTINGS)
    try:
        indices = [int(k) for k in text.split(",")]
    except ValueError:
        parser.error(f"--settings must be 'all' or comma-separated integers 0-"
                     f"{len(SETTINGS) - 1}; got {text!r}")
    if any(not 0 <= k < len(SETTINGS) for k in indices) or len(set(indices)) != len(indices):
        parser.error(f"--settings must be distinct indices in 0-{len(SETTINGS) - 1}; got {text!r}")
    return [SETTINGS[k] for k in indices]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__, "python -m benchmarks.reproduce_exchange")
    parser.add_argument("--T", type=int, default=1000, help="horizon (rounds)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per setting")
    parser.add_argument("--workers", type=int, default=1, help="processes (1: this process)")
    parser.add_argument("--nu-scale", type=float, default=0.3,
                        help="sampling scale of Algorithm 1 [decision]")
    parser.add_argument("--init-phases", type=int, default=1, help="initialization sub-phases q")
    parser.add_argument("--settings", default="all",
                        help="comma-separated setting indices 0-5, run in that order (default: "
                             "all, 0-5): an interrupted run holds whole settings in that order")
    parser.add_argument("--prd-iterations", type=int, default=2000,
                        help="PRD iteration budget in the convergence table")
    parser.add_argument("--prd-instances", type=int, default=10,
                        help="random instances per family in the PRD table (0: no table)")
    parser.add_argument("--from-json", default=None, metavar="PATH",
                        help="run nothing: summarize, compare and plot the runs stored in PATH "
                             "(a --json output of an earlier run, finished or interrupted)")
    parser.add_argument("--corners", action="store_true",
                        help="run the corner diagnostics instead (why a loss stays linear: per "
                             "agent, corner of the true CE, played corners, weak eigenvalue and "
                             "error, share of the late loss); same cells, --json resumes")
    add_output_arguments(parser, png_default="results/reproduce_exchange.png",
                         json_help="write the results as JSON to PATH (every finished run at once, "
                                   "the summary at the end); finished cells (setting x learner x "
                                   "seed) go to PATH.cells.jsonl and a rerun resumes from them")
    args = parser.parse_args(argv)
    chosen = parse_settings(parser, args.settings)

    start = time.perf_counter()
    command = "python -m benchmarks.reproduce_exchange " + " ".join(
        sys.argv[1:] if argv is None else argv)
    if args.corners:
        jobs = [(name, env_id, kwargs, learner, seed, args.T, args.nu_scale, args.init_phases)
                for name, env_id, kwargs in chosen for seed in range(args.seeds)
                for learner in LEARNERS]
        cells = run_jobs(corner_diagnostics, jobs, args.workers, store=cell_store(args),
                         show_progress=not args.no_progress, desc="corner runs")
        corner_rows = corner_summary(cells)
        print(f"\nmade by: {command}")
        print_corner_report(corner_rows)
        print(f"({time.perf_counter() - start:.0f} s)")
        corner_result = {"T": args.T, "seeds": args.seeds, "nu_scale": args.nu_scale,
                         "init_phases": args.init_phases, "command": command,
                         "rows": corner_rows, "cells": cells}
        if args.json:
            IncrementalResults(args.json, indent=1).set(corner_result)
            print(f"json: {args.json}")
        return corner_result
    prd: list[dict[str, Any]] = []
    if args.from_json:
        header, runs = load_runs(args.from_json)
        header["seeds"] = len({r["seed"] for r in runs})
    else:
        # one cell = one (setting, learner, seed); setting-major in the order of --settings, so
        # an interrupted run holds whole settings (both learners, every seed) in that order
        jobs = [(name, env_id, kwargs, learner, seed, args.T, args.nu_scale, args.init_phases)
                for name, env_id, kwargs in chosen for seed in range(args.seeds)
                for learner in LEARNERS]
        header = {"T": args.T, "seeds": args.seeds, "nu_scale": args.nu_scale,
                  "init_phases": args.init_phases, "command": command}
        results = IncrementalResults(args.json, indent=1)
        finished: dict[int, dict[str, Any]] = {}

        def save(index: int, run: dict[str, Any]) -> None:
            finished[index] = _run_record(_as_run(run))
            results.set({**header, "claim": PAPER_CLAIM,
                         "runs": [finished[k] for k in sorted(finished)]})

        # resumes: finished cells come from PATH.cells.jsonl (--json PATH), only the rest run
        runs = run_jobs(run_one, jobs, args.workers, on_result=save,
                        show_progress=not args.no_progress, desc="runs", store=cell_store(args))
        runs = [_as_run(r) for r in runs]
        if args.prd_instances > 0:
            prd = prd_table(args.prd_iterations, args.prd_instances)
    rows = summarize(runs, header["T"])
    pairs = [p for p in (paired_comparison(runs, name) for name, _, _ in SETTINGS) if p]
    elapsed = time.perf_counter() - start
    print_report(rows, pairs, runs, header)
    print(f"({elapsed:.0f} s)")
    if prd:
        print(f"\nPRD convergence: iterations until PRD's iterate passes the CE verification at "
              f"1e-6 ({args.prd_instances} random instances per family, budget "
              f"{args.prd_iterations}):")
        print(f"  {'family':<16} {'median':>8} {'max':>8} {'never':>6} {'rate/iter (median)':>19}")
        for p in prd:
            def show(v: float) -> str:
                return f"{v:.0f}" if np.isfinite(v) else "never"
            print(f"  {p['family']:<16} {show(p['median_iterations_to_1e-6']):>8} "
                  f"{show(p['max_iterations_to_1e-6']):>8} {p['never_within_budget']:>6} "
                  f"{p['median_rate_per_iteration']:19.4f}")

    result = {**header, "claim": PAPER_CLAIM, "rows": rows, "greedy_vs_algorithm1": pairs,
              "verdicts": {r["setting"]: sublinearity_verdict(r) for r in rows
                           if r["learner"] == "Algorithm 1"},
              "prd_convergence": prd, "runs": [_run_record(r) for r in runs]}
    if args.png:
        os.makedirs(os.path.dirname(args.png) or ".", exist_ok=True)
        try:
            plot(runs, header["T"], args.png)
            print(f"\nplot: {args.png}")
        except ImportError:
            print("\n(matplotlib not installed: no plot)")
    if args.json:
        IncrementalResults(args.json, indent=1).set(result)
        print(f"json: {args.json}")
    return result


if __name__ == "__main__":
    main()
