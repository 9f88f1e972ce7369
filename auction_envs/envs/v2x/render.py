"""Rendering of the V2X market: a text summary and a plot of site utilization over time."""

from __future__ import annotations

from typing import Any

import numpy as np


def render_text(env: Any) -> str:
    lines = [f"V2XOffloading step {env.num_cycles}/{env.max_cycles}  capacity "
             f"{env.capacity:g}  MP {env.max_rebids}"]
    if getattr(env, "_has_reset", False):
        core = env.core
        m = env.metrics()
        util = ", ".join(f"{s.name} {core.running[j] / core.site_capacity[j]:.2f}"
                         for j, s in enumerate(core.sites))
        lines.append(f"  utilization {util}  (ACA view of remote {core.view_utilization[1]:.2f})")
        lines.append(f"  requests {m['requests']}  finished {m['finished']}  OFR {m['ofr']:.3f} "
                     f"(rejected {m['ofr_rejected']:.3f}, hold {m['ofr_dropped_on_hold']:.3f}, "
                     f"deadline {m['ofr_deadline_miss']:.3f})")
        prices = ", ".join(f"{k} {p:.0f}" for k, p in m["last_price"].items())
        lines.append(f"  last clearing prices: {prices}")
    return "\n".join(lines)


def render_rgb(env: Any) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    counters = getattr(env, "counters", None)
    if getattr(env, "_has_reset", False) and counters.utilization_history:
        util = np.array(counters.utilization_history)
        view = np.array(counters.view_history)
        steps = np.arange(1, len(util) + 1)
        for j, s in enumerate(env.core.sites):
            axes.plot(steps, util[:, j], label=f"{s.name} utilization", linewidth=0.8)
        axes.plot(steps, view[:, 1], label="remote, ACA's view", linewidth=0.6, linestyle=":")
    axes.set_xlabel("step")
    axes.set_ylabel("utilization")
    axes.set_ylim(0, 1.05)
    axes.set_title(f"V2X offloading, capacity {env.capacity:g}, MP {env.max_rebids}")
    axes.legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


__all__ = ["render_rgb", "render_text"]
