"""What the three mean-field learners share: the hyper-parameters, the per-agent replay buffer and
the group bookkeeping (parameter sharing, the mean field, checkpoints).

A mean-field learner controls a *group* of agents that share one observation space and one action
space (the slicers of the IoV market, the bidders of an auction) with one set of networks
(parameter sharing, as in Yang et al. 2018 and mlii/mfrl; an optional one-hot agent id tells the
agents apart). Every round adds one replay row per agent: its observation, its action, the mean
field of the others' actions *of the same round* (:mod:`agents.mean_field.features`), the reward
and the next observation. Acting happens before the round's actions are known, so the learner
acts with the previous round's mean field (mlii/mfrl and XuanCe do the same; LEARNERS §3.4), which
is also the estimate it uses for the next state in the TD target (the realised mean field of round
``t`` is the acting estimate of round ``t + 1``). The estimate persists across episodes; before
the first round it is the uniform histogram.

``use_mean_field=False`` gives the *independent learners* of DVCG-MARL: the same networks without
the mean-field input.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from agents.base import (
    Actions,
    FieldReplayBuffer,
    JSONConfig,
    Observations,
    Transition,
    load_state,
    restore_rng,
    rng_state,
    save_state,
)
from agents.maddpg.maddpg import (
    _load_module,
    _load_optimizer,
    _module_state,
    _optimizer_state,
    soft_update,
)
from agents.mean_field.features import discrete_heads, mean_field, mean_field_size

REWARD_BASELINES = ("none", "previous")


@dataclass(frozen=True)
class MeanFieldConfig(JSONConfig):
    """Hyper-parameters of MF-Q, MF-AC and MF-DDPG (each reads the fields it needs).

    Provenance: [paper] paper 002 §V (DVCG-MFMARL); [yang] Yang et al. 2018; [learners] LEARNERS.md
    §3.3-§3.4 and §7.5; [ours] a choice for CPU budgets.
    """

    hidden_sizes: tuple[int, ...] = (64, 64)  #: MLP widths [learners]
    lr: float = 1e-3  #: Adam, Q network / critic [paper]
    actor_lr: float = 1e-3  #: Adam, actor (MF-AC, MF-DDPG) [paper]
    gamma: float = 0.99  #: discount [paper]; 0 = one-shot (y = r)
    tau: float = 0.005  #: Polyak rate of the target networks [paper, mfrl]
    buffer_size: int = 50_000  #: agent rows kept, FIFO (one row per agent per round) [ours; paper 1e4]
    batch_size: int = 128  #: agent rows per gradient step [paper]
    learning_starts: int = 256  #: agent rows stored before the first update [ours]
    update_every: int = 1  #: rounds between update rounds [ours]
    gradient_steps: int = 1  #: gradient steps per update round [ours]
    temperature_start: float = 1.0  #: Boltzmann temperature T of MF-Q at step 0 [learners]
    temperature_end: float = 0.1  #: T after the anneal [learners]
    temperature_anneal_steps: int = 10_000  #: rounds of the linear anneal [ours]
    entropy_coef: float = 0.01  #: MF-AC entropy bonus [xuance]
    noise_start: float = 0.3  #: MF-DDPG Gaussian sigma in [-1, 1] units at step 0 [learners]
    noise_end: float = 0.02  #: sigma after the anneal [learners]
    noise_anneal_steps: int = 10_000  #: rounds of the linear anneal [ours]
    actor_reg: float = 1e-3  #: MF-DDPG: weight of mean(pre-tanh^2) in the actor loss [openai]
    histogram_bins: int = 11  #: grid points of the soft histogram (Box actions) [ours]
    use_mean_field: bool = True  #: False: independent learners (DVCG-MARL) [paper]
    agent_id: bool = False  #: append a one-hot agent id to the observation [ours]
    reward_scale: float = 1.0  #: rewards are multiplied by this in the TD target [ours]
    #: each round, each agent explores (samples its policy / adds noise) with this probability
    #: and plays greedily otherwise; 1 = every agent explores every round (the paper) [ours]
    explore_probability: float = 1.0
    #: "none", or "previous": learn from ``r_t - r_{t-1}`` (the agent's reward of the previous
    #: round of the same episode; the first round of an episode is not stored). Only with
    #: ``gamma = 0``: a myopic learner whose observation carries ``r_{t-1}`` (the IoV slicers' does)
    #: keeps the same greedy action, with a target that no longer has to fit the reward's level [ours]
    reward_baseline: str = "none"
    max_grad_norm: float = 5.0  #: global gradient-norm clip per network; 0 = off [learners]
    checkpoint_buffer: bool = True  #: save the replay buffer (exact resume) [ours]

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, domain: str) -> None:
            if not ok:
                raise ValueError(f"MeanFieldConfig.{name} must be {domain}; got "
                                 f"{getattr(self, name)!r}")
        need(len(self.hidden_sizes) >= 1 and all(int(h) >= 1 for h in self.hidden_sizes),
             "hidden_sizes", "a non-empty tuple of positive widths")
        for name in ("lr", "actor_lr", "reward_scale", "temperature_start", "temperature_end"):
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and np.isfinite(value) and value > 0, name,
                 "finite and > 0")
        need(0.0 <= self.gamma <= 1.0, "gamma", "in [0, 1]")
        need(isinstance(self.explore_probability, (int, float))
             and 0.0 < self.explore_probability <= 1.0, "explore_probability", "in (0, 1]")
        need(0.0 < self.tau <= 1.0, "tau", "in (0, 1]")
        for name in ("buffer_size", "batch_size", "update_every", "gradient_steps",
                     "temperature_anneal_steps", "noise_anneal_steps"):
            value = getattr(self, name)
            need(isinstance(value, (int, np.integer)) and value >= 1, name, "an integer >= 1")
        need(isinstance(self.histogram_bins, (int, np.integer)) and self.histogram_bins >= 2,
             "histogram_bins", "an integer >= 2")
        need(self.reward_baseline in REWARD_BASELINES, "reward_baseline",
             f"one of {REWARD_BASELINES}")
        need(self.reward_baseline == "none" or self.gamma == 0.0, "reward_baseline",
             "'none' when gamma > 0 (the difference changes a discounted objective)")
        need(isinstance(self.learning_starts, (int, np.integer)) and self.learning_starts >= 0,
             "learning_starts", "an integer >= 0")
        for name in ("entropy_coef", "noise_start", "noise_end", "actor_reg", "max_grad_norm"):
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and np.isfinite(value) and value >= 0, name,
                 "finite and >= 0")


class AgentReplayBuffer(FieldReplayBuffer):
    """Preallocated agent rows: ``obs``, ``action``, ``mean_field``, ``reward``, ``next_obs``,
    ``terminated``; a round adds one row per agent (:meth:`add_round`). FIFO once full; sampled
    uniformly with replacement from the learner's generator, as tensors."""

    def __init__(self, capacity: int, obs_size: int, action_size: int, mf_size: int) -> None:
        super().__init__(capacity, {"obs": obs_size, "next_obs": obs_size, "action": action_size,
                                    "mean_field": mf_size, "reward": 1, "terminated": 1})

    def add_round(self, rows: dict[str, np.ndarray]) -> None:
        """Append ``rows`` (each ``[N, size]``, one row per agent)."""
        self.add_rows(rows)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        return {name: torch.as_tensor(values)
                for name, values in super().sample(batch_size, rng).items()}


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy without gradients (a target network)."""
    import copy
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


def linear_schedule(step: int, start: float, end: float, steps: int) -> float:
    """``start`` to ``end`` linearly over ``steps``, then ``end``."""
    return start + min(step / steps, 1.0) * (end - start)


class MeanFieldLearner:
    """The shared machinery; subclasses build the networks and define acting and one gradient step.

    Args:
        env: the env (only its spaces are read).
        config: :class:`MeanFieldConfig`.
        agents: the agents controlled (default: every agent whose action space is of the kind the
            algorithm handles, ``ACTION_KINDS``); they must share one observation space and one
            action space.
        seed: seeds the network initialization, the exploration and the replay sampling.
    """

    ALGORITHM = "mean-field"
    ACTION_KINDS: tuple[type, ...] = (spaces.Discrete, spaces.MultiDiscrete)

    def __init__(self, env: Any, config: MeanFieldConfig | None = None,
                 agents: Sequence[str] | None = None, seed: int = 0) -> None:
        self.config = config or MeanFieldConfig()
        if not isinstance(self.config, MeanFieldConfig):
            raise TypeError(f"config must be a MeanFieldConfig; got {type(self.config).__name__}")
        possible = list(env.possible_agents)
        if agents is None:
            agents = [a for a in possible if isinstance(env.action_space(a), self.ACTION_KINDS)]
        self.agents = list(agents)
        unknown = sorted(set(self.agents) - set(possible))
        if not self.agents or unknown:
            raise ValueError(f"{self.ALGORITHM}: agents must be a non-empty subset of {possible} "
                             f"with {[k.__name__ for k in self.ACTION_KINDS]} actions; got "
                             f"{list(agents)} (unknown {unknown})")
        self.action_space = env.action_space(self.agents[0])
        self.observation_space = env.observation_space(self.agents[0])
        for agent in self.agents:
            if not isinstance(env.action_space(agent), self.ACTION_KINDS):
                raise ValueError(f"{self.ALGORITHM}: {agent} has action space "
                                 f"{env.action_space(agent)!r}; needs one of "
                                 f"{[k.__name__ for k in self.ACTION_KINDS]}")
            if env.action_space(agent) != self.action_space or \
                    env.observation_space(agent) != self.observation_space:
                raise ValueError(f"{self.ALGORITHM} shares one network over its agents: {agent}'s "
                                 f"spaces differ from {self.agents[0]}'s")
        self.n = len(self.agents)
        self.seed = int(seed)
        cfg = self.config
        self.obs_size = int(np.prod(self.observation_space.shape)) + (self.n if cfg.agent_id else 0)
        self.mf_size = mean_field_size(self.action_space, cfg.histogram_bins)
        self.mf_input = self.mf_size if cfg.use_mean_field else 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._build()
        self.buffer = AgentReplayBuffer(cfg.buffer_size, self.obs_size, self.action_size,
                                        self.mf_size)
        self.rng = np.random.default_rng([self.seed, 0x4D464C])  # "MFL"
        self.env_steps = 0
        self.gradient_steps = 0
        self.mean_field_estimate = self._uniform_mean_field()
        self.previous_reward: np.ndarray | None = None

    # ------------------------------------------------------------------ hooks
    action_size: int

    def _build(self) -> None:  # networks, targets, optimizers; sets self.action_size
        raise NotImplementedError

    def _policy(self, obs: torch.Tensor, mf: torch.Tensor, explore: bool) -> np.ndarray:
        """Actions ``[N, action_size]`` in learner units for the ``N`` rows of ``obs``."""
        raise NotImplementedError

    def _to_env(self, action: np.ndarray) -> Any:
        raise NotImplementedError

    def _to_learner(self, action: Any) -> np.ndarray:
        raise NotImplementedError

    def _gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        raise NotImplementedError

    def _modules(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ------------------------------------------------------------------ shared pieces
    def _uniform_mean_field(self) -> np.ndarray:
        """The uniform histogram (each head / dimension sums to 1), before any round."""
        if isinstance(self.action_space, spaces.Box):
            return np.full((self.n, self.mf_size), 1.0 / self.config.histogram_bins)
        _, levels = discrete_heads(self.action_space)
        return np.full((self.n, self.mf_size), 1.0 / levels)

    def _obs_matrix(self, observations: Observations, agents: Sequence[str]) -> np.ndarray:
        rows = []
        for agent in agents:
            value = np.asarray(observations[agent], dtype=np.float32).reshape(-1)
            if value.size != self.obs_size - (self.n if self.config.agent_id else 0):
                raise ValueError(f"{agent}: observation of size {value.size}; this learner needs "
                                 f"{self.observation_space.shape}")
            rows.append(value)
        matrix = np.stack(rows)
        if self.config.agent_id:
            ids = np.eye(self.n, dtype=np.float32)[[self.agents.index(a) for a in agents]]
            matrix = np.concatenate([matrix, ids], axis=1)
        return matrix

    def _mf_tensor(self, mf: np.ndarray | torch.Tensor) -> torch.Tensor:
        mf = torch.as_tensor(mf, dtype=torch.float32)
        return mf if self.config.use_mean_field else mf[:, :0]

    def _net_input(self, obs: torch.Tensor, mf: torch.Tensor) -> torch.Tensor:
        return torch.cat([obs, mf], dim=-1) if mf.shape[-1] else obs

    # ------------------------------------------------------------------ Learner interface
    def act(self, observations: Observations, explore: bool = True) -> Actions:
        """Actions of the controlled agents present in ``observations`` (env units), with the
        previous round's mean field as the estimate of this round's."""
        present = [a for a in self.agents if a in observations]
        if not present:
            return {}
        index = [self.agents.index(a) for a in present]
        obs = torch.as_tensor(self._obs_matrix(observations, present))
        mf = self._mf_tensor(self.mean_field_estimate[index])
        with torch.no_grad():
            actions = self._policy(obs, mf, explore)
            if explore and self.config.explore_probability < 1.0:
                # the agents that do not explore this round play their greedy action
                greedy = self.rng.random(len(present)) >= self.config.explore_probability
                if np.any(greedy):
                    actions = np.array(actions, copy=True)
                    actions[greedy] = self._policy(obs[greedy], mf[greedy], False)
        return {agent: self._to_env(action) for agent, action in zip(present, actions)}

    def observe(self, transition: Transition) -> None:
        """Store one row per agent with the realised mean field of this round."""
        missing = [a for a in self.agents if a not in transition.actions
                   or a not in transition.next_observations]
        if missing:
            raise ValueError(f"{self.ALGORITHM} needs every controlled agent in each transition; "
                             f"missing {missing}")
        actions = np.stack([self._to_learner(transition.actions[a]) for a in self.agents])
        realised = mean_field(actions if not isinstance(self.action_space, spaces.Discrete)
                              else actions[:, 0], self.action_space, self.config.histogram_bins)
        rows = {
            "obs": self._obs_matrix(transition.observations, self.agents),
            "next_obs": self._obs_matrix(transition.next_observations, self.agents),
            "action": actions, "mean_field": realised,
            "reward": np.array([float(transition.rewards[a]) for a in self.agents]),
            "terminated": np.array([float(bool(transition.terminations[a])) for a in self.agents]),
        }
        reward, previous = rows["reward"], self.previous_reward
        if self.config.reward_baseline == "previous":
            rows["reward"] = reward - (previous if previous is not None else 0.0)
        if self.config.reward_baseline == "none" or previous is not None:
            self.buffer.add_round(rows)
        self.previous_reward = reward
        if any(transition.terminations[a] or transition.truncations[a] for a in self.agents):
            self.previous_reward = None
        self.mean_field_estimate = realised
        self.env_steps += 1

    def update(self) -> dict[str, float]:
        """``gradient_steps`` steps every ``update_every`` rounds once ``learning_starts`` rows
        are stored; ``{}`` otherwise."""
        cfg = self.config
        if self.buffer.size < max(cfg.learning_starts, 1) or self.env_steps % cfg.update_every:
            return {}
        metrics: dict[str, float] = {}
        for _ in range(cfg.gradient_steps):
            metrics = self._gradient_step(self.buffer.sample(cfg.batch_size, self.rng))
            self.gradient_steps += 1
        return metrics

    def end_episode(self) -> None:
        """Forget the previous reward (schedules run per round; the mean-field estimate carries
        over)."""
        self.previous_reward = None

    def _target_value(self, reward: torch.Tensor, terminated: torch.Tensor,
                      next_value: torch.Tensor) -> torch.Tensor:
        """``s r + gamma (1 - terminated) V(s')``; ``gamma = 0`` never evaluates ``V``."""
        cfg = self.config
        scaled = cfg.reward_scale * reward
        if cfg.gamma == 0.0:
            return scaled
        return scaled + cfg.gamma * (1.0 - terminated) * next_value

    def _soft_update(self, pairs: list[tuple[nn.Module, nn.Module]]) -> None:
        for target, source in pairs:
            soft_update(list(target.parameters()), list(source.parameters()), self.config.tau)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "algorithm": self.ALGORITHM, "agents": list(self.agents),
            "config": self.config.to_dict(), "env_steps": self.env_steps,
            "gradient_steps": self.gradient_steps,
            "mean_field_estimate": self.mean_field_estimate.copy(),
            "previous_reward": (np.zeros(0) if self.previous_reward is None
                                else self.previous_reward.copy()),
            "modules": {name: _module_state(m) for name, m in self._modules().items()},
            "optimizers": {name: _optimizer_state(o) for name, o in self._optimizers().items()},
            "rng": rng_state(self.rng), **self._extra_state(),
        }
        if self.config.checkpoint_buffer:
            state["buffer"] = self.buffer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("algorithm") != self.ALGORITHM or list(state.get("agents", [])) != self.agents:
            raise ValueError(f"checkpoint is for {state.get('algorithm')} on {state.get('agents')}, "
                             f"not {self.ALGORITHM} on {self.agents}")
        saved = MeanFieldConfig.from_dict(state["config"])
        if saved != self.config:
            current = self.config.to_dict()
            changed = {k: (v, current[k]) for k, v in saved.to_dict().items() if current[k] != v}
            raise ValueError(f"checkpoint config differs (saved, current): {changed}")
        for name, module in self._modules().items():
            _load_module(module, state["modules"][name])
        for name, optimizer in self._optimizers().items():
            _load_optimizer(optimizer, state["optimizers"][name])
        if "buffer" in state:
            self.buffer.load_state_dict(state["buffer"])
        self.rng = restore_rng(state["rng"])
        self.mean_field_estimate = np.asarray(state["mean_field_estimate"], dtype=np.float64).copy()
        previous = np.asarray(state["previous_reward"], dtype=np.float64)
        self.previous_reward = previous.copy() if previous.size else None
        self.env_steps, self.gradient_steps = int(state["env_steps"]), int(state["gradient_steps"])
        self._load_extra_state(state)

    def save(self, path: str | os.PathLike[str]) -> None:
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        """Load a checkpoint of this learner; a bad file raises and leaves the learner unchanged."""
        state = load_state(path)
        before = self.state_dict()
        try:
            self.load_state_dict(state)
        except Exception:
            self.load_state_dict(before)
            raise


class DiscreteMeanFieldLearner(MeanFieldLearner):
    """Discrete actions: ``Discrete(L)`` (one head) or ``MultiDiscrete([L] * K)`` (``K`` heads).

    A ``MultiDiscrete`` action is learned as ``K`` action branches (Tavakoli et al. 2018): one
    network outputs ``K x L`` values, head ``k`` scores head ``k``'s levels, and every head is
    trained on the shared reward. The mean field is the others' one-hot mean per head.
    """

    def _setup_heads(self) -> None:
        self.heads, self.levels = discrete_heads(self.action_space)
        self.action_size = self.heads

    def _to_env(self, action: np.ndarray) -> Any:
        levels = np.asarray(action, dtype=np.int64)
        return np.int64(levels[0]) if isinstance(self.action_space, spaces.Discrete) else levels

    def _to_learner(self, action: Any) -> np.ndarray:
        levels = np.asarray(action).reshape(-1)
        if levels.size != self.heads or not np.all(levels == np.round(levels)) or \
                levels.min() < 0 or levels.max() >= self.levels:
            raise ValueError(f"{self.ALGORITHM}: action {action!r} is not in {self.action_space}")
        return levels.astype(np.float64)

    def _sample_heads(self, probabilities: np.ndarray) -> np.ndarray:
        """One level per row and head from ``probabilities`` ``[N, K, L]`` (inverse CDF with the
        learner's generator, so the draw is reproducible)."""
        cumulative = np.cumsum(probabilities, axis=-1)
        uniform = self.rng.random((*cumulative.shape[:-1], 1)) * cumulative[..., -1:]
        return np.minimum((cumulative < uniform).sum(axis=-1), self.levels - 1)
