"""``auction_envs`` works with numpy, scipy, gymnasium and pettingzoo alone: every registered env
is built and stepped in a subprocess where the optional packages cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

OPTIONAL = ("torch", "matplotlib", "cvxpy", "supersuit", "stable_baselines3", "tqdm", "libsumo",
            "traci", "sumolib", "ray", "tensorboard", "numba", "llvmlite", "agents", "benchmarks")


def test_every_env_runs_without_optional_packages():
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {OPTIONAL!r}:
                    raise ImportError(f"blocked optional package {{name}}")
        sys.meta_path.insert(0, Block())
        import auction_envs
        from auction_envs.oracles._slicing_kernel import compiled_kernel
        assert compiled_kernel() is None  # the slicing oracle runs on numpy
        for env_id in auction_envs.list_envs():
            env = auction_envs.make(env_id)
            env.reset(seed=0)
            env.step({{a: env.action_space(a).sample() for a in env.agents}})
            env.unwrapped.metrics()
        print(len(auction_envs.list_envs()))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) >= 3
