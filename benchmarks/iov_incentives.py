"""Incentives in the IoV slicing market with scripted bidders (paper 002 §VI, Figs. 7-10).

1. DSIC (paper Fig. 7): N = 5 under DVCG, everyone truthful except VSP 1, who over-bids from round
   400 and under-bids from round 650 (900 rounds); compared round by round with an all-truthful
   run on the same seed (common random numbers), and a sweep of deviations of +-10..50 %.
2. Collusion (Figs. 8-10): VSPs 0 and 1 scale their bids jointly over a grid; the coalition's
   expected profit gain over truthful bidding under DVCG, NVI-DVCG, plain VCG and QVCG.

Paper claims checked (printed beside ours): DVCG is DSIC, so deviating from the truthful bid never
earns a VSP more than bidding truthfully (Fig. 7, and the deviation sweep); a coalition gains
nothing by scaling its bids jointly under DVCG, but can under NVI-DVCG and QVCG (Figs. 8-10).

``python -m benchmarks.iov_incentives [--seeds 5] [--json PATH] [--out results/iov]`` prints the
table, writes the numbers to ``--json`` (after each experiment) and two PNGs into ``--out``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

import auction_envs
from auction_envs.mechanisms.vcg import clarke_payments
from auction_envs.oracles.slicing import (
    qvcg_allocation_dp,
    qvcg_tables,
    slicing_utility,
)
from benchmarks.common import (
    CellStore,
    IncrementalResults,
    add_output_arguments,
    benchmark_parser,
    cell_store,
    plt_agg,
    run_jobs,
    save_figure,
)

#: A gain at most this (absolute profit units) counts as "no gain" (float round-off).
TOLERANCE = 1e-6


def _run(env, bids_fn, rounds: int, seed: int,
         slicers: Callable[[dict], dict] | None = None) -> np.ndarray:
    """Every VSP's profit per round ``[rounds, N]`` when they bid ``bids_fn(t, truthful bids)``;
    with ``allocator="learned"``, ``slicers(observations)`` gives the slicers' actions (e.g. the
    trained slicers of :mod:`benchmarks.dvcg_incentives`)."""
    observations, _ = env.reset(seed=seed)
    base = env.unwrapped
    truthful = base.equilibrium()["bids"]
    profits = np.zeros((rounds, base.n_vsps))
    for t in range(rounds):
        bids = bids_fn(t, truthful)
        actions = {a: np.array([bids[i]], dtype=np.float32) for i, a in enumerate(base.vsps)}
        if slicers is not None:
            actions.update(slicers(observations))
        observations, _, _, _, infos = env.step(actions)
        profits[t] = [infos[a]["profit"] for a in base.vsps]
    return profits


def dsic_experiment(seed: int = 0, over: float = 0.3, under: float = 0.3,
                    rounds: int = 900) -> dict:
    env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=5, max_cycles=rounds)

    def deviant(t: int, x: np.ndarray) -> np.ndarray:
        b = x.copy()
        if t >= 650:
            b[1] *= 1 - under
        elif t >= 400:
            b[1] *= 1 + over
        return b

    truthful = _run(env, lambda t, x: x, rounds, seed)
    deviating = _run(env, deviant, rounds, seed)
    phases = {"truthful (0-399)": slice(0, 400), f"over-bid +{over:.0%} (400-649)": slice(400, 650),
              f"under-bid -{under:.0%} (650-899)": slice(650, rounds)}
    table = {name: {"vsp1_deviating": float(deviating[p, 1].mean()),
                    "vsp1_truthful": float(truthful[p, 1].mean()),
                    "others_deviating": float(deviating[p][:, [0, 2, 3, 4]].mean()),
                    "others_truthful": float(truthful[p][:, [0, 2, 3, 4]].mean())}
             for name, p in phases.items()}
    return {"table": table, "truthful": truthful, "deviating": deviating}


FACTORS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)


def sweep_cell(tax: str, seed: int, rounds: int, n_vsps: int,
               factors: tuple[float, ...] = FACTORS) -> list[float]:
    """VSP 1's mean profit gain over truthful for each bid factor, one seed and tax (a job of
    :func:`benchmarks.common.run_jobs`)."""
    env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=n_vsps, tax=tax,
                            max_cycles=rounds)
    profit = np.zeros(len(factors))
    for j, f in enumerate(factors):
        def bids_fn(t, x, f=f):
            b = x.copy()
            b[1] *= f
            return b
        profit[j] = _run(env, bids_fn, rounds, seed)[:, 1].mean()
    return (profit - profit[np.asarray(factors) == 1.0]).tolist()


def deviation_sweep(seeds: int = 5, rounds: int = 200, n_vsps: int = 5,
                    on_update: Callable[[dict], None] | None = None,
                    show_progress: bool = False, store: CellStore | None = None) -> dict:
    """VSP 1 scales its bid by each factor, the others truthful: mean (and max over seeds) gain
    of its mean profit over truthful bidding, per tax; ``on_update(partial)`` after each tax.
    With a ``store`` (:func:`cell_store`), the (tax, seed) cells it holds are not run again."""
    out = {}
    for tax in ("dvcg", "nvi"):
        jobs = [(tax, seed, rounds, n_vsps, FACTORS) for seed in range(seeds)]
        gains = np.array(run_jobs(sweep_cell, jobs, show_progress=show_progress,
                                  desc=f"sweep {tax}", store=store))
        out[tax] = {"factors": list(FACTORS), "mean_gain": gains.mean(0).tolist(),
                    "max_gain": gains.max(0).tolist()}
        if on_update is not None:
            on_update(out)
    return out


def collusion(seed: int = 0, n_vsps: int = 5, m_qvcg: int = 10,
              grid: np.ndarray | None = None) -> dict:
    """Coalition {0, 1}: expected one-round profit gain over truthful for joint bid scales."""
    grid = np.round(np.linspace(0.5, 1.5, 11), 3) if grid is None else grid
    out = {}
    for name, kwargs in (("DVCG", {"tax": "dvcg"}), ("NVI-DVCG", {"tax": "nvi"}),
                         ("VCG", {"mechanism": "vcg"})):
        env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=n_vsps, **kwargs)
        env.reset(seed=seed)
        base = env.unwrapped
        # a few truthful rounds so the bank has bills (alpha-hat, VoI) as in a running market
        for _ in range(20):
            env.step({a: np.array([base.x_truthful[i]], dtype=np.float32)
                      for i, a in enumerate(base.vsps)})
        x = base.x_truthful
        ref = base.expected_profits(x)[:2].sum()
        gain = np.zeros((grid.size, grid.size))
        for a, ga in enumerate(grid):
            for b, gb in enumerate(grid):
                bids = x.copy()
                bids[0] *= ga
                bids[1] *= gb
                gain[a, b] = base.expected_profits(bids)[:2].sum() - ref
        out[name] = gain
    # QVCG: reports scale_i * u_i on the M-grid, Clarke payments, profit alpha (u - p)
    env = auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=n_vsps)
    env.reset(seed=seed)
    base = env.unwrapped

    def qvcg_profit(scale: np.ndarray) -> np.ndarray:
        tables = qvcg_tables(base.beta, base.xi, m_qvcg, scale)
        units, _, without = qvcg_allocation_dp(tables, m_qvcg)
        flat = np.ravel_multi_index(tuple(units.T), (m_qvcg + 1,) * 3)
        pay = clarke_payments(without, tables[np.arange(n_vsps), flat])
        return base.alpha * (slicing_utility(units / m_qvcg, base.beta, base.xi) - pay)

    ref = qvcg_profit(np.ones(n_vsps))[:2].sum()
    gain = np.zeros((grid.size, grid.size))
    for a, ga in enumerate(grid):
        for b, gb in enumerate(grid):
            scale = np.ones(n_vsps)
            scale[0], scale[1] = ga, gb
            gain[a, b] = qvcg_profit(scale)[:2].sum() - ref
    out[f"QVCG (M={m_qvcg})"] = gain
    return {"grid": grid.tolist(),
            "summary": {k: {"max_gain": float(v.max()),
                            "argmax_scales": [float(grid[i]) for i in
                                              np.unravel_index(np.argmax(v), v.shape)]}
                        for k, v in out.items()},
            "gains": {k: v.tolist() for k, v in out.items()}}


def dsic_cell(seed: int, over: float, under: float, rounds: int) -> dict:
    """:func:`dsic_experiment` as a job of :func:`benchmarks.common.run_jobs` (lists)."""
    result = dsic_experiment(seed, over, under, rounds)
    return {**result, "truthful": result["truthful"].tolist(),
            "deviating": result["deviating"].tolist()}


#: The joint bid scales of the collusion grid (both coalition members).
COLLUSION_GRID = tuple(float(g) for g in np.round(np.linspace(0.5, 1.5, 11), 3))


def collusion_cell(seed: int, n_vsps: int, m_qvcg: int, grid: tuple[float, ...]) -> dict:
    """:func:`collusion` as a job of :func:`benchmarks.common.run_jobs`."""
    return collusion(seed, n_vsps, m_qvcg, np.asarray(grid))


def claims(report: dict) -> list[tuple[str, str, str]]:
    """The paper's claims beside our numbers: (claim, ours, holds here?)."""
    rows = []
    phases = report["dsic_phases"]
    deviating = [(name, p) for name, p in phases.items() if not name.startswith("truthful")]
    worst = max(p["vsp1_deviating"] - p["vsp1_truthful"] for _, p in deviating)
    rows.append(("DSIC (Fig. 7): VSP 1 over-/under-bidding earns no more than truthful (DVCG)",
                 "; ".join(f"{name}: {p['vsp1_deviating']:.4g} vs {p['vsp1_truthful']:.4g}"
                           for name, p in deviating),
                 "yes" if worst <= TOLERANCE else "no"))
    sweep = report["deviation_sweep"]
    for tax, claim in (("dvcg", "DSIC: no unilateral bid scale 0.5..1.5 gains over truthful (DVCG)"),
                       ("nvi", "(NVI-DVCG, for comparison: the paper claims DSIC for DVCG only)")):
        if tax not in sweep:
            continue
        gain = max(sweep[tax]["max_gain"])
        factor = sweep[tax]["factors"][int(np.argmax(sweep[tax]["max_gain"]))]
        rows.append((claim, f"largest gain over seeds and scales {gain:.3g} (scale {factor:g})",
                     ("yes" if gain <= TOLERANCE else "no") if tax == "dvcg" else "-"))
    collusion = report.get("collusion", {})
    for name, summary in collusion.items():
        expected = "none" if name in ("DVCG", "VCG") else "possible"
        holds = (summary["max_gain"] <= TOLERANCE) == (expected == "none")
        paper = {"DVCG": "a coalition {0, 1} gains nothing (DVCG)",
                 "VCG": "(plain VCG, for comparison)"}.get(
            name, f"a coalition {{0, 1}} can gain ({name})")
        rows.append((f"collusion (Figs. 8-10): {paper}",
                     f"max gain {summary['max_gain']:.3g} at scales {summary['argmax_scales']}",
                     ("yes" if holds else "no") if name != "VCG" else "-"))
    return rows


def table(report: dict) -> str:
    lines = ["DSIC experiment (DVCG, N = 5), mean profit per round by phase:",
             f"  {'phase':<28} {'VSP 1 deviating':>16} {'VSP 1 truthful':>15} "
             f"{'others dev.':>12} {'others truthful':>16}"]
    for name, p in report["dsic_phases"].items():
        lines.append(f"  {name:<28} {p['vsp1_deviating']:>16.4f} {p['vsp1_truthful']:>15.4f} "
                     f"{p['others_deviating']:>12.4f} {p['others_truthful']:>16.4f}")
    lines += ["", "Unilateral deviation sweep: VSP 1's mean profit gain over truthful (mean over seeds):"]
    for tax, sweep in report["deviation_sweep"].items():
        lines.append(f"  {'scale':<8}" + "".join(f"{f:>8.1f}" for f in sweep["factors"]))
        lines.append(f"  {tax.upper():<8}" + "".join(f"{g:>8.3g}" for g in sweep["mean_gain"]))
    lines += ["", "Collusion of VSPs 0 and 1: largest expected profit gain over truthful:"]
    for name, summary in report["collusion"].items():
        lines.append(f"  {name:<14} {summary['max_gain']:>10.4g} at scales {summary['argmax_scales']}")
    lines += ["", "Paper 002's claims beside ours:"]
    for claim, ours, holds in claims(report):
        lines.append(f"  - {claim}\n      ours: {ours}  -> holds here: {holds}")
    return "\n".join(lines)


def plot(dsic: dict, sweep: dict, coll: dict, out: Path) -> list[Path]:
    """``iov_dsic.png`` (Fig. 7 and the sweep) and ``iov_collusion.png`` (Figs. 8-10) in ``out``."""
    plt = plt_agg()
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    k = 20
    smooth = lambda y: np.convolve(y, np.ones(k) / k, mode="valid")  # noqa: E731
    for i in range(5):
        axes[0].plot(smooth(dsic["deviating"][:, i]), lw=1.5 if i == 1 else 0.8,
                     label=f"VSP {i}" + (" (deviates)" if i == 1 else ""))
    axes[0].plot(smooth(dsic["truthful"][:, 1]), "k--", lw=1, label="VSP 1 if truthful")
    for r in (400, 650):
        axes[0].axvline(r, color="grey", ls=":")
    axes[0].set(xlabel="round", ylabel=f"profit ({k}-round mean)",
                title="DVCG, N=5: over-bid +30% from 400, under-bid -30% from 650")
    axes[0].legend(fontsize=7)
    for tax, style in (("dvcg", "o-"), ("nvi", "s--")):
        axes[1].plot(sweep[tax]["factors"], sweep[tax]["mean_gain"], style, label=tax.upper())
    axes[1].axhline(0, color="k", lw=0.5)
    axes[1].set(xlabel="VSP 1's bid / truthful bid", ylabel="mean profit gain vs truthful",
                title="Unilateral deviation (others truthful)")
    axes[1].legend()
    save_figure(fig, out / "iov_dsic.png", dpi=120)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    grid = coll["grid"]
    for ax, (name, gain) in zip(axes, coll["gains"].items()):
        image = ax.imshow(np.array(gain), origin="lower", cmap="RdBu_r",
                          extent=(grid[0], grid[-1], grid[0], grid[-1]))
        ax.set(title=f"{name}: max gain {np.max(gain):.3g}", xlabel="VSP 1 scale",
               ylabel="VSP 0 scale")
        fig.colorbar(image, ax=ax)
    fig.suptitle("Coalition {0, 1}: expected profit gain over truthful bidding")
    save_figure(fig, out / "iov_collusion.png", dpi=120)
    return [out / "iov_dsic.png", out / "iov_collusion.png"]


def main(argv: list[str] | None = None) -> dict:
    parser = benchmark_parser(__doc__, "python -m benchmarks.iov_incentives")
    parser.add_argument("--seeds", type=int, default=5,
                        help="seeds of the unilateral deviation sweep (default 5)")
    parser.add_argument("--out", default="results/iov",
                        help="folder for the PNGs iov_dsic.png and iov_collusion.png "
                             "(default results/iov)")
    parser.add_argument("--no-plots", action="store_true", help="write no PNGs")
    add_output_arguments(parser, json_help="write the numbers as JSON to PATH (rewritten after each "
                                           "experiment: DSIC, each tax of the sweep, collusion)")
    args = parser.parse_args(argv)
    show = not args.no_progress
    results = IncrementalResults(args.json, {})
    store = cell_store(args)  # a rerun with the same --json runs only the missing cells
    [dsic] = run_jobs(dsic_cell, [(0, 0.3, 0.3, 900)], show_progress=False, store=store)
    dsic = {**dsic, "truthful": np.asarray(dsic["truthful"]),
            "deviating": np.asarray(dsic["deviating"])}
    results.update(dsic_phases=dsic["table"])
    sweep = deviation_sweep(seeds=args.seeds, show_progress=show, store=store,
                            on_update=lambda partial: results.update(deviation_sweep=partial))
    [coll] = run_jobs(collusion_cell, [(0, 5, 10, COLLUSION_GRID)], show_progress=False,
                      store=store)
    results.update(collusion=coll["summary"], collusion_grid=coll)
    report = {"dsic_phases": dsic["table"], "deviation_sweep": sweep, "collusion": coll["summary"]}
    print(table(report))
    if not args.no_plots:
        try:
            for path in plot(dsic, sweep, coll, Path(args.out)):
                print(f"plot: {path}")
        except ImportError:
            print("(matplotlib not installed: no plots)")
    if args.json:
        print(f"json: {args.json}")
    return results.payload


if __name__ == "__main__":
    main()
