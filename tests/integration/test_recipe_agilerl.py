"""docs/recipes/agilerl.md runs as written and its MADDPG bidders raise their payoff; the recipe's loop,
with observations divided by the market's scales and ``gamma=0`` (every round is a one-shot
auction), raises the IoV slicing VSPs' profits and, on the cloud double auction (event-driven), the
providers' utility: MADDPG's providers raise their prices (the shared-policy learners of the SB3 and
RLlib recipes undercut each other instead; the recipe page says why).

Every signal is paired: the same evaluation markets (seeds never trained on) before and after."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("agilerl")
torch = pytest.importorskip("torch")

import auction_envs  # noqa: E402
from auction_envs.wrappers.normalize import NormalizeMarket  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "recipes" / "agilerl.md"
EVAL_SEEDS = (1000, 1001)  # markets never seen in training (training seeds 0, 1, ...)
IOV_MONEY_FIELDS = ("bid", "loan", "tax", "externality", "interest", "profit", "utility", "voi")


@pytest.fixture(autouse=True)
def one_torch_thread() -> Any:
    """On a loaded 2-core box torch's spinning threads cost several times the CPU time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def iov_observation_scale(env: Any) -> np.ndarray:
    """What a VSP's observation is divided by: money fields by ``beta_high`` (the VSP's reward
    scale), the VoI pool by ``N beta_high``, the rest (alpha-hat, progress, flags) as they are."""
    market = env.unwrapped
    layout, beta_high = market.layout_of("vsp_0"), market.reward_scale("vsp_0")
    scale = np.ones(layout.size, np.float32)
    for name in IOV_MONEY_FIELDS:
        scale[layout.slice(name)] = beta_high
    scale[layout.slice("pool")] = market.n_vsps * beta_high
    return scale


def cloud_observation_scale(env: Any) -> np.ndarray:
    """The cloud market stores every field scaled except ``last_reward`` (raw provider utility)."""
    market = env.unwrapped
    agent = env.possible_agents[0]
    scale = np.ones(env.observation_space(agent).shape, np.float32)
    scale[market.layout.slice("last_reward")] = market.reward_scale(agent)
    return scale


class Loop:
    """The recipe's MADDPG loop on ``env`` with observations divided by ``scale``."""

    def __init__(self, env: Any, scale: np.ndarray, **maddpg: Any) -> None:
        from agilerl.algorithms import MADDPG
        from agilerl.components.replay_buffer import ReplayBuffer
        from gymnasium import spaces

        torch.manual_seed(0)
        self.env, self.scale, self.agents = env, scale, env.possible_agents
        # scaled observations leave the market's raw bounds: give MADDPG unbounded boxes
        observation_spaces = [spaces.Box(-np.inf, np.inf, env.observation_space(a).shape, np.float32)
                              for a in self.agents]
        settings = {"batch_size": 32, "lr_actor": 1e-3, "lr_critic": 1e-3, "learn_step": 1,
                    "gamma": 0.0, "O_U_noise": False, "expl_noise": 0.2, **maddpg}
        self.maddpg = MADDPG(observation_spaces, [env.action_space(a) for a in self.agents],
                             agent_ids=self.agents,
                             net_config={"latent_dim": 16, "encoder_config": {"hidden_size": [32]},
                                         "head_config": {"hidden_size": [32]}}, **settings)
        self.memory = ReplayBuffer(max_size=10_000)

    def batched(self, values: dict, scale: np.ndarray | float = 1.0) -> dict[str, np.ndarray]:
        """AgileRL works on vectorised envs: one leading env axis of size 1 (``values / scale``)."""
        return {a: (np.asarray(values[a]) / scale).astype(np.float32)[None] for a in self.agents}

    def train(self, episodes: int) -> list[float]:
        """``episodes`` markets (seeds 0, 1, ...); every actor and critic loss."""
        from agilerl.components.data import MultiAgentTransition, transition_to_tensordict

        losses, step, maddpg = [], 0, self.maddpg
        for episode in range(episodes):
            obs, info = self.env.reset(seed=episode)
            while self.env.agents:
                actions, raw_actions = maddpg.get_action(self.batched(obs, self.scale), info)
                assert all(self.env.action_space(a).contains(actions[a][0].astype(np.float32))
                           for a in self.agents)
                next_obs, rewards, terminations, _, info = self.env.step(
                    {a: actions[a][0] for a in self.agents})
                transition = transition_to_tensordict(MultiAgentTransition(
                    obs=self.batched(obs, self.scale), action=raw_actions,
                    reward=self.batched(rewards), next_obs=self.batched(next_obs, self.scale),
                    done=self.batched(terminations)))
                transition.batch_size = torch.Size([1])
                self.memory.add(transition)
                step += 1
                if step % maddpg.learn_step == 0 and len(self.memory) >= maddpg.batch_size:
                    for actor_loss, critic_loss in maddpg.learn(
                            self.memory.sample(maddpg.batch_size)).values():
                        losses += [float(actor_loss), float(critic_loss)]
                obs = next_obs
        return losses

    def play(self) -> tuple[np.ndarray, list[dict[str, Any]], list[np.ndarray]]:
        """Noise-free play on :data:`EVAL_SEEDS`: each agent's mean return (in reward-scale
        units), each market's ``metrics()`` and every (agent, round) action."""
        self.maddpg.set_training_mode(False)
        returns, metrics, actions_played = [], [], []
        for seed in EVAL_SEEDS:
            obs, info = self.env.reset(seed=seed)
            episode_return = dict.fromkeys(self.agents, 0.0)
            while self.env.agents:
                actions, _ = self.maddpg.get_action(self.batched(obs, self.scale), info)
                actions_played += [(obs[a], actions[a][0]) for a in self.agents]
                obs, rewards, _, _, info = self.env.step({a: actions[a][0] for a in self.agents})
                for agent in self.agents:
                    episode_return[agent] += rewards[agent]
            returns.append([episode_return[a] for a in self.agents])
            metrics.append(self.env.unwrapped.metrics())
        self.maddpg.set_training_mode(True)
        return np.mean(returns, axis=0), metrics, actions_played


def test_iov_vsps_raise_their_profits() -> None:
    env = NormalizeMarket(auction_envs.make("auction_envs/IoVSlicing-v1", n_vsps=4, max_cycles=16),
                          actions=False)
    loop = Loop(env, iov_observation_scale(env))
    before, before_metrics, _ = loop.play()
    losses = loop.train(episodes=24)
    after, after_metrics, _ = loop.play()
    assert losses and np.all(np.isfinite(losses))
    # profit / beta_high per VSP over 16 rounds, mean of the VSPs; seeded: 7.91 -> 8.49 (training
    # seeds 0-4: +0.31 to +0.97); the untrained actors bid flat near the middle of [0, 400]
    assert after.mean() > before.mean() + 0.25, (before, after)
    profit_before = np.mean([m["mean_profit"] for m in before_metrics])
    profit_after = np.mean([m["mean_profit"] for m in after_metrics])
    assert profit_after > profit_before, (profit_before, profit_after)


def test_cloud_providers_raise_their_utility() -> None:
    env = NormalizeMarket(auction_envs.make("auction_envs/CloudDoubleAuction-v1", max_cycles=16),
                          actions=False)
    # a slow actor on a fast critic: with lr_actor = lr_critic = 1e-3 the direction of the
    # providers' price moves depended on the torch seed (see the recipe page)
    loop = Loop(env, cloud_observation_scale(env), lr_actor=1e-4, lr_critic=1e-2)
    layout = env.unwrapped.layout

    def mean_multiplier(actions_played: list) -> float:
        """The providers' price multipliers on the buyers present (empty slots are not priced)."""
        return float(np.mean(np.concatenate([
            action[layout.unpack(obs)["present"] > 0.5] for obs, action in actions_played])))

    def utilities(metrics: list[dict[str, Any]]) -> tuple[float, float]:
        return (float(np.mean([m["total_provider_utility"] for m in metrics])),
                float(np.mean([m["buyer_utility"] for m in metrics])))

    returns_before, metrics_before, actions_before = loop.play()
    losses = loop.train(episodes=48)
    returns_after, metrics_after, actions_after = loop.play()
    assert losses and np.all(np.isfinite(losses))
    (providers_before, buyers_before), (providers_after, buyers_after) = (
        utilities(metrics_before), utilities(metrics_after))
    # each provider's critic learns its own utility and its actor follows that critic's gradient:
    # here prices rise and surplus moves from the buyers to the providers (the shared-policy
    # learners of the SB3 / RLlib recipes undercut instead). Seeded: provider utility
    # 10181 -> 10712 (torch seeds 0-4: +5.2% to +10.1%), multiplier 0.502 -> 0.548, buyer utility
    # 20150 -> 19571
    assert returns_after.mean() > returns_before.mean(), (returns_before, returns_after)
    assert providers_after > 1.03 * providers_before, (providers_before, providers_after)
    # the multiplier's rise is host-dependent in size (torch numerics): 0.502 -> 0.548 on the
    # host of the recipe page, 0.507 -> 0.524 on that of 2026-12-02 21:10 UTC; its sign held
    assert mean_multiplier(actions_after) > mean_multiplier(actions_before)
    assert buyers_after < buyers_before, (buyers_before, buyers_after)


@pytest.mark.slow
def test_recipe_runs_as_written_and_the_bidders_payoff_rises(tmp_path: Path) -> None:
    code = re.search(r"<!-- recipe: agilerl -->\n```python\n(.*?)```", PAGE.read_text(), re.S)[1]
    script = tmp_path / "recipe.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    payoff = re.search(r"normalized payoff ([\d.]+) -> ([\d.]+)", run.stdout)
    bids = re.search(r"mean bid ([\d.]+) -> ([\d.]+) \(Nash equilibrium ([\d.]+)\)", run.stdout)
    assert payoff and bids, run.stdout
    before, after = map(float, payoff.groups())
    assert after > before + 0.05  # seeded: 0.562 -> 0.680
    # the untrained actors bid near the middle of [1, 400]; trained ones bid down toward Nash
    initial, final, equilibrium = map(float, bids.groups())
    assert abs(final - equilibrium) < 0.9 * abs(initial - equilibrium)
