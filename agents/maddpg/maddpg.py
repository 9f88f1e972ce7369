"""MADDPG (Lowe et al. 2017) for any PettingZoo parallel env with Box or Discrete actions.

One file that reads top to bottom (CleanRL style): the hyper-parameters (:class:`MADDPGConfig`),
the action scaling (:class:`ActionScaler`, the only place where learner units meet env units), the
observation normalizer, the joint replay buffer, the networks, and the learner (:class:`MADDPG`),
which implements the :class:`agents.base.Learner` interface so :mod:`agents.runner` drives it::

    from agents.maddpg import MADDPG, MADDPGConfig
    from agents.runner import RunConfig, train
    result = train(lambda env: MADDPG(env, MADDPGConfig(gamma=0.0), seed=0),
                   RunConfig("auction_envs/KellyGame-v0", rounds=2000,
                             env_kwargs={"n_agents": 2, "max_cycles": 1}))

Algorithm (per agent ``i`` of the controlled group, in ``env.possible_agents`` order):

* **Actor** ``mu_i(o_i)``. Box actions: a deterministic actor ``u = tanh(f(o_i))`` in ``[-1, 1]``
  per dimension, rescaled to the Box bounds by :class:`ActionScaler`; exploration adds Gaussian
  noise ``N(0, sigma_t^2)`` in those ``[-1, 1]`` units and clips, with ``sigma_t`` annealed linearly
  from ``noise_start`` to ``noise_end`` over ``noise_anneal_steps`` env steps, then constant.
  Discrete actions: logits; exploration samples ``argmax(logits + Gumbel)`` (a Gumbel-max sample of
  the softmax policy), greedy play takes ``argmax(logits)``; the env receives the integer; the
  buffer and the critic see its one-hot. The actor update differentiates a straight-through
  Gumbel-softmax sample (one-hot forward, softmax(tau) gradient).
* **Critic** ``Q_i(c, a_1..a_N)``, centralized: the context ``c`` is the concatenation of every
  controlled agent's (normalized) observation (``critic_input="joint_obs"``, openai/maddpg) or the
  env's global state ``env.state()`` (``"state"``, as EPyMARL/BenchMARL do when the env has one).
  Actions enter in ``[-1, 1]`` units (Box) or one-hot (Discrete), in agent order. One critic per
  agent (``critic_sharing="per_agent"``, right for competing agents with their own rewards), or one
  shared network with a one-hot agent-id input and one output per agent (``"shared"``, EPyMARL
  style; agent ``i`` reads output ``i``). The shared network is evaluated for all ``N`` ids at
  once: its first (linear) layer is computed once, the id and an actor's replaced action enter as
  weight columns (:meth:`MADDPG._shared_heads`), so an update costs ``O(N)`` rather than ``O(N^2)``
  in the joint input.
* **Reward sharing** (``reward_sharing``): ``"own"`` (default, the paper) trains critic ``i`` on
  agent ``i``'s reward; ``"team"`` trains every critic on the controlled agents' summed reward
  ``r_i <- sum_k r_k`` (a cooperative team objective; the one place is :meth:`MADDPG.td_targets`,
  the buffer stores the raw rewards). [decision] Use ``"team"`` when the metric is the group's
  total and each agent's own reward points away from it (e.g. the providers' undercutting under
  RTRM's second-price payments); report both.
* **TD target** ``y_i = s r_i + gamma (1 - terminated_i) Q'_i(c', mu'_1(o'_1), ..., mu'_N(o'_N))``
  with target networks ``'`` (Polyak ``tau``) and ``s = reward_scale``: a *truncation bootstraps*, a
  *termination does not* (openai/maddpg stores ``done`` only for terminal states, so time limits are
  bootstrapped). ``gamma == 0`` (one-shot auctions) is the fast path ``y = s r``.
* **Actor loss** ``-mean Q_i(c, a_1..mu_i(o_i)..a_N) + actor_reg mean(z_i^2)`` with ``z_i`` the
  pre-tanh output or the logits (the openai/maddpg 1e-3 logits² regulariser; it also keeps tanh out
  of saturation). The others' actions ``a_j`` come from the replay buffer (``others_actions=
  "buffer"``, the paper) or from their current policies, detached (``"current"``, EPyMARL/BenchMARL).
* **Optional TD3 tricks** (MATD3): ``twin_critics`` (clipped double Q), ``target_noise`` (target
  policy smoothing, Box only), ``policy_delay`` (actor and target updates every k critic steps).
* Gradients are clipped to a global norm ``max_grad_norm`` per network (per agent).
* **Replay**: one joint, preallocated numpy row per env step (every agent's observation, action,
  reward, termination, and next observation; the global states when the critic reads them),
  sampled uniformly with replacement by the learner's seeded generator.

Checkpoints (:meth:`MADDPG.save`) use :func:`agents.base.save_state` (``.npz`` + JSON, no pickle):
networks, target networks, optimizer moments, normalizers, counters, the replay buffer (optional)
and the numpy and torch generator states, so a reloaded learner acts and updates identically.

Torch is imported by this module only (``auction_envs`` never imports it).
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
from torch.nn import functional as F

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

CRITIC_INPUTS = ("joint_obs", "state")
REWARD_SHARINGS = ("own", "team")
CRITIC_SHARINGS = ("per_agent", "shared")
OTHERS_ACTIONS = ("buffer", "current")


# ---------------------------------------------------------------------------- hyper-parameters
@dataclass(frozen=True)
class MADDPGConfig(JSONConfig):
    """Every hyper-parameter, with its default and where the default comes from.

    Provenance keys: [openai] openai/maddpg ``train.py``; [cleanrl] CleanRL ``ddpg_continuous_action``
    / TD3; [benchmarl] BenchMARL MADDPG defaults; [epymarl] EPyMARL ``maddpg.yaml``; [learners]
    LEARNERS.md §7.5 (starting configs recommended for auctions); [ours] a choice for CPU budgets.
    """

    hidden_sizes: tuple[int, ...] = (64, 64)  #: MLP widths, actor and critic [openai, learners]
    actor_lr: float = 1e-3  #: Adam, actor [learners; openai 1e-2]
    critic_lr: float = 1e-3  #: Adam, critic [learners; openai 1e-2]
    gamma: float = 0.95  #: discount [openai]; 0 for one-shot auctions (fast path y = r)
    tau: float = 0.01  #: Polyak rate of the target networks [openai]
    buffer_size: int = 100_000  #: joint rows kept (FIFO) [ours; openai 1e6, AgileRL/XuanCe 1e5]
    batch_size: int = 256  #: rows per gradient step [cleanrl, learners; openai 1024]
    learning_starts: int = 1_000  #: rows in the buffer before the first update [ours]
    update_every: int = 1  #: env steps between update rounds [ours; openai 100, XuanCe 25]
    gradient_steps: int = 1  #: gradient steps per update round [ours]
    noise_start: float = 0.3  #: Gaussian exploration sigma (Box, in [-1, 1] units) at step 0 [learners]
    noise_end: float = 0.02  #: sigma after the anneal [learners]
    noise_anneal_steps: int = 10_000  #: env steps of the linear anneal (1/3 of training) [learners]
    gumbel_temperature: float = 1.0  #: straight-through Gumbel-softmax tau (Discrete) [epymarl, openai]
    actor_reg: float = 1e-3  #: weight of mean(pre-activation^2) in the actor loss [openai, epymarl]
    max_grad_norm: float = 5.0  #: global gradient-norm clip per network; 0 = off [benchmarl, learners]
    reward_scale: float = 1.0  #: rewards are multiplied by this in the TD target [ours]
    critic_input: str = "joint_obs"  #: "joint_obs" (openai) or "state" (env.state()) [learners §2.4]
    critic_sharing: str = "per_agent"  #: "per_agent" or "shared" (agent-id input) [learners §2.4]
    others_actions: str = "buffer"  #: "buffer" (paper) or "current" (EPyMARL) [learners §2.1]
    twin_critics: bool = False  #: TD3 clipped double Q [cleanrl TD3, MATD3]
    target_noise: float = 0.0  #: TD3 target smoothing sigma, [-1, 1] units; 0 = off (TD3: 0.2)
    target_noise_clip: float = 0.5  #: clip of the target smoothing noise [cleanrl TD3]
    policy_delay: int = 1  #: critic steps per actor/target step (TD3: 2) [cleanrl TD3]
    reward_sharing: str = "own"  #: "own" (each agent its reward) or "team" (summed) [ours]
    actor_init_unit: float | None = None  #: Box: start actors near this [-1, 1] action [ours]
    normalize_observations: bool = True  #: running mean/std of observations and states [ours]
    checkpoint_buffer: bool = True  #: save the replay buffer (exact resume) [ours]

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, domain: str) -> None:
            if not ok:
                raise ValueError(f"MADDPGConfig.{name} must be {domain}; got {getattr(self, name)!r}")
        need(len(self.hidden_sizes) >= 1 and all(int(h) >= 1 for h in self.hidden_sizes),
             "hidden_sizes", "a non-empty tuple of positive widths")
        for name in ("actor_lr", "critic_lr", "reward_scale", "gumbel_temperature"):
            need(np.isfinite(getattr(self, name)) and getattr(self, name) > 0, name, "finite and > 0")
        need(0.0 <= self.gamma <= 1.0, "gamma", "in [0, 1]")
        need(0.0 < self.tau <= 1.0, "tau", "in (0, 1]")
        for name in ("buffer_size", "batch_size", "update_every", "gradient_steps", "policy_delay",
                     "noise_anneal_steps"):
            need(isinstance(getattr(self, name), (int, np.integer)) and getattr(self, name) >= 1,
                 name, "an integer >= 1")
        need(isinstance(self.learning_starts, (int, np.integer)) and self.learning_starts >= 0,
             "learning_starts", "an integer >= 0")
        for name in ("noise_start", "noise_end", "actor_reg", "max_grad_norm", "target_noise",
                     "target_noise_clip"):
            need(np.isfinite(getattr(self, name)) and getattr(self, name) >= 0, name, "finite and >= 0")
        need(self.critic_input in CRITIC_INPUTS, "critic_input", f"one of {CRITIC_INPUTS}")
        need(self.critic_sharing in CRITIC_SHARINGS, "critic_sharing", f"one of {CRITIC_SHARINGS}")
        need(self.others_actions in OTHERS_ACTIONS, "others_actions", f"one of {OTHERS_ACTIONS}")
        need(self.reward_sharing in REWARD_SHARINGS, "reward_sharing", f"one of {REWARD_SHARINGS}")
        need(self.actor_init_unit is None or (np.isfinite(self.actor_init_unit)
                                              and abs(self.actor_init_unit) < 1.0),
             "actor_init_unit", "None or in (-1, 1)")



# ---------------------------------------------------------------------------- action scaling
class ActionScaler:
    """The one place where learner units ``u in [-1, 1]^d`` meet a Box's env units.

    ``to_env(u) = low + (u + 1) (high - low) / 2`` (clipped to the bounds and cast to the space's
    dtype), ``to_unit`` its inverse (clipped to ``[-1, 1]``). A dimension with ``low == high`` maps
    to 0.
    """

    def __init__(self, space: spaces.Box, agent: str = "agent") -> None:
        low = np.asarray(space.low, dtype=np.float64).reshape(-1)
        high = np.asarray(space.high, dtype=np.float64).reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(f"{agent}: MADDPG's tanh actor needs finite Box bounds; got low={low}, "
                             f"high={high}")
        self.low, self.high = low, high
        self.shape, self.dtype = space.shape, space.dtype
        self.half_range = (high - low) / 2.0

    def to_env(self, unit: np.ndarray) -> np.ndarray:
        value = self.low + (np.clip(unit, -1.0, 1.0) + 1.0) * self.half_range
        return np.clip(value, self.low, self.high).astype(self.dtype).reshape(self.shape)

    def to_unit(self, action: np.ndarray) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = np.where(self.half_range > 0, (action - self.low) / self.half_range - 1.0, 0.0)
        return np.clip(unit, -1.0, 1.0)


# ---------------------------------------------------------------------------- normalizer
class RunningNormalizer:
    """Running mean and variance (parallel Welford); ``(x - mean) / sqrt(var + 1e-8)``, clipped to
    ``[-10, 10]`` (SB3 VecNormalize's clip). Constant features map to 0."""

    def __init__(self, size: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.count = 0.0
        self.mean = np.zeros(size)
        self.var = np.ones(size)

    def update(self, x: np.ndarray) -> None:
        if not self.enabled:
            return
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.mean.size)
        batch_mean, batch_var, n = x.mean(axis=0), x.var(axis=0), x.shape[0]
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + batch_var * n
                    + delta ** 2 * self.count * n / total) / total
        self.count = total

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.enabled or self.count == 0:
            return np.asarray(x, dtype=np.float32)
        return np.clip((x - self.mean) / np.sqrt(self.var + 1e-8), -10, 10).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean.copy(), "var": self.var.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = float(state["count"])
        self.mean = np.asarray(state["mean"], dtype=np.float64).copy()
        self.var = np.asarray(state["var"], dtype=np.float64).copy()


# ---------------------------------------------------------------------------- replay buffer
class JointReplayBuffer(FieldReplayBuffer):
    """One preallocated row per env step for the whole group (no per-agent index alignment).

    Fields: ``obs_<k>``, ``next_obs_<k>``, ``action_<k>`` (learner units: ``[-1, 1]`` or one-hot) per
    agent index ``k``; ``reward``, ``terminated`` ``(n,)``; ``state``, ``next_state`` when given a
    ``state_size``. FIFO once full; :meth:`sample` draws uniformly with replacement from ``rng``.
    """

    def __init__(self, capacity: int, obs_sizes: Sequence[int], action_sizes: Sequence[int],
                 state_size: int = 0) -> None:
        n = len(obs_sizes)
        shapes: dict[str, int] = {"reward": n, "terminated": n}
        for k, (obs_size, action_size) in enumerate(zip(obs_sizes, action_sizes)):
            shapes[f"obs_{k}"] = shapes[f"next_obs_{k}"] = obs_size
            shapes[f"action_{k}"] = action_size
        if state_size:
            shapes["state"] = shapes["next_state"] = state_size
        super().__init__(capacity, shapes)


# ---------------------------------------------------------------------------- networks
def mlp(input_size: int, output_size: int, hidden_sizes: Sequence[int]) -> nn.Sequential:
    """``Linear-ReLU`` blocks then a linear output (openai/maddpg's 2x64 ReLU MLP by default)."""
    layers: list[nn.Module] = []
    size = input_size
    for width in hidden_sizes:
        layers += [nn.Linear(size, int(width)), nn.ReLU()]
        size = int(width)
    layers.append(nn.Linear(size, output_size))
    return nn.Sequential(*layers)


def soft_update(target: list[torch.Tensor], source: list[torch.Tensor], tau: float) -> None:
    with torch.no_grad():  # target <- (1 - tau) target + tau source, one fused call
        torch._foreach_lerp_(target, source, tau)


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    uniform = torch.rand(shape, generator=generator).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(uniform))


def straight_through_gumbel(logits: torch.Tensor, temperature: float,
                            generator: torch.Generator) -> torch.Tensor:
    """One-hot forward, ``softmax((logits + g) / tau)`` gradient (EPyMARL's ``hard=True``)."""
    soft = F.softmax((logits + gumbel_noise(tuple(logits.shape), generator)) / temperature, dim=-1)
    hard = F.one_hot(soft.argmax(dim=-1), logits.shape[-1]).to(soft.dtype)
    return hard + soft - soft.detach()


def _module_state(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: value.detach().cpu().numpy().copy() for name, value in module.state_dict().items()}


def _load_module(module: nn.Module, state: dict[str, np.ndarray]) -> None:
    module.load_state_dict({name: torch.as_tensor(np.asarray(value)) for name, value in state.items()})


def _optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    return {str(index): {name: value.detach().cpu().numpy().copy() for name, value in moments.items()}
            for index, moments in optimizer.state_dict()["state"].items()}


def _load_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    current = optimizer.state_dict()
    optimizer.load_state_dict({
        "state": {int(index): {name: torch.as_tensor(np.asarray(value))
                               for name, value in moments.items()}
                  for index, moments in state.items()},
        "param_groups": current["param_groups"]})


def clip_groups_and_step(optimizer: torch.optim.Optimizer, groups: Sequence[list[nn.Parameter]],
                         max_norm: float) -> list[float]:
    """:func:`clip_and_step` for an optimizer over several networks: each group's gradient is
    clipped to ``max_norm`` on its own global norm (as ``clip_grad_norm_`` per network), in a
    few fused calls however many groups; one step; the groups' norms before clipping."""
    grads = [p.grad for group in groups for p in group]
    owner = torch.repeat_interleave(torch.arange(len(groups)),
                                    torch.tensor([len(group) for group in groups]))
    squares = torch.stack(torch._foreach_norm(grads)).square()
    norms = torch.zeros(len(groups), dtype=squares.dtype).index_add_(0, owner, squares).sqrt()
    if max_norm > 0:
        coefficients = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        torch._foreach_mul_(grads, coefficients[owner].tolist())
    optimizer.step()
    return norms.tolist()


def clip_and_step(optimizer: torch.optim.Optimizer, parameters: list[nn.Parameter],
                  max_norm: float) -> float:
    """Clip the gradients' global norm to ``max_norm`` (0: no clipping), step; the norm before."""
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm if max_norm > 0 else float("inf"))
    optimizer.step()
    return float(norm)


# ---------------------------------------------------------------------------- the learner
class MADDPG:
    """MADDPG for a group of agents of a PettingZoo parallel env (a joint ``Learner``).

    Args:
        env: the env (only its spaces, and ``state()`` with ``critic_input="state"``, are used).
        config: the hyper-parameters (:class:`MADDPGConfig`).
        agents: the agents controlled (default ``env.possible_agents``); the critics see only these
            agents' observations and actions (others are part of the environment, see
            ``agents.no_regret.Mixture`` to combine learners).
        seed: seeds the network initialization, the exploration noise, the replay sampling and the
            Gumbel samples.
    """

    def __init__(self, env: Any, config: MADDPGConfig | None = None,
                 agents: Sequence[str] | None = None, seed: int = 0) -> None:
        self.config = config or MADDPGConfig()
        self.env = env
        self.agents = list(env.possible_agents if agents is None else agents)
        unknown = set(self.agents) - set(env.possible_agents)
        if not self.agents or unknown:
            raise ValueError(f"agents must be a non-empty subset of {env.possible_agents}; "
                             f"unknown {sorted(unknown)}")
        self.seed = int(seed)
        self.n = len(self.agents)
        self.scalers: list[ActionScaler | None] = []
        self.action_sizes: list[int] = []
        self.obs_sizes: list[int] = []
        for agent in self.agents:
            action_space = env.action_space(agent)
            if isinstance(action_space, spaces.Discrete):
                self.scalers.append(None)
                self.action_sizes.append(int(action_space.n))
            elif isinstance(action_space, spaces.Box):
                self.scalers.append(ActionScaler(action_space, agent))
                self.action_sizes.append(int(np.prod(action_space.shape)))
            else:
                raise ValueError(f"{agent}: MADDPG supports Box and Discrete actions; got "
                                 f"{action_space!r}")
            self.obs_sizes.append(int(np.prod(env.observation_space(agent).shape)))
        cfg = self.config
        self.state_size = 0
        if cfg.critic_input == "state":
            state_space = getattr(env, "state_space", None)
            if state_space is None:
                raise ValueError("critic_input='state' needs an env with state_space/state()")
            self.state_size = int(np.prod(state_space.shape))
        context_size = self.state_size if cfg.critic_input == "state" else sum(self.obs_sizes)
        critic_in = context_size + sum(self.action_sizes)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.actors = nn.ModuleList(mlp(o, a, cfg.hidden_sizes)
                                        for o, a in zip(self.obs_sizes, self.action_sizes))
            if cfg.actor_init_unit is not None:
                self._start_actors_near(cfg.actor_init_unit)
            n_heads = 2 if cfg.twin_critics else 1
            if cfg.critic_sharing == "shared":
                # one network, one-hot agent id in, one value per agent out (read output i)
                self.critics = nn.ModuleList(mlp(critic_in + self.n, self.n, cfg.hidden_sizes)
                                             for _ in range(n_heads))
            else:
                self.critics = nn.ModuleList(mlp(critic_in, 1, cfg.hidden_sizes)
                                             for _ in range(n_heads * self.n))
        self.target_actors = _frozen_copy(self.actors)
        self.target_critics = _frozen_copy(self.critics)
        self.critic_groups = self._critic_groups()
        # parameter lists cached once (walking the modules every step costs more than the math)
        self.actor_parameters = [list(actor.parameters()) for actor in self.actors]
        # one Adam for all actors: Adam is elementwise, so this takes the same steps as one
        # optimizer per actor, in one fused call (each actor's gradient is still clipped alone)
        self.actor_optimizer = torch.optim.Adam(
            [p for parameters in self.actor_parameters for p in parameters], lr=cfg.actor_lr,
            foreach=True)
        self.critic_parameters = [[p for k in group for p in self.critics[k].parameters()]
                                  for group in self.critic_groups]
        self.critic_optimizers = [torch.optim.Adam(parameters, lr=cfg.critic_lr, foreach=True)
                                  for parameters in self.critic_parameters]
        self._target_pairs = (
            list(self.target_actors.parameters()) + list(self.target_critics.parameters()),
            list(self.actors.parameters()) + list(self.critics.parameters()))

        self.obs_normalizers = [RunningNormalizer(size, cfg.normalize_observations)
                                for size in self.obs_sizes]
        self.state_normalizer = RunningNormalizer(max(self.state_size, 1),
                                                  cfg.normalize_observations)
        self.buffer = JointReplayBuffer(cfg.buffer_size, self.obs_sizes, self.action_sizes,
                                        self.state_size)
        self.rng = np.random.default_rng([self.seed, 0x4D414444])  # "MADD"
        self.torch_generator = torch.Generator().manual_seed(self.seed)
        self.env_steps = 0
        self.gradient_steps = 0
        self._pending_state: np.ndarray | None = None

    def _start_actors_near(self, unit: float) -> None:
        """Box actors' output layer: weights x 0.1 and bias ``atanh(unit)``, so every initial
        action is about ``unit`` in [-1, 1] units while the actor still depends on its input
        (a prior on where to search, e.g. near a known good markup)."""
        with torch.no_grad():
            for k, actor in enumerate(self.actors):
                if self.scalers[k] is None:
                    continue
                output = actor[-1]
                output.weight.mul_(0.1)
                output.bias.fill_(float(np.arctanh(unit)))

    def _critic_groups(self) -> list[list[int]]:
        """Indices into ``self.critics`` optimized together: each agent's one or two critics, or
        the shared network(s)."""
        heads = 2 if self.config.twin_critics else 1
        if self.config.critic_sharing == "shared":
            return [list(range(heads))]
        return [[head * self.n + i for head in range(heads)] for i in range(self.n)]

    # ------------------------------------------------------------------ acting
    def noise_sigma(self) -> float:
        """The exploration sigma now: linear from ``noise_start`` to ``noise_end`` over
        ``noise_anneal_steps`` env steps, then constant."""
        cfg = self.config
        fraction = min(self.env_steps / cfg.noise_anneal_steps, 1.0)
        return cfg.noise_start + fraction * (cfg.noise_end - cfg.noise_start)

    def act(self, observations: Observations, explore: bool = True) -> Actions:
        """Actions for the controlled agents present in ``observations`` (env units)."""
        if self.config.critic_input == "state":
            self._pending_state = np.asarray(self.env.state(), dtype=np.float32).reshape(-1)
        sigma = self.noise_sigma()
        actions: Actions = {}
        for k, agent in enumerate(self.agents):
            if agent not in observations:
                continue
            obs = self.obs_normalizers[k](np.asarray(observations[agent]).reshape(1, -1))
            with torch.no_grad():
                output = self.actors[k](torch.as_tensor(obs)).numpy()[0].astype(np.float64)
            scaler = self.scalers[k]
            if scaler is None:  # Discrete: Gumbel-max sample of softmax(logits), or argmax
                if explore:
                    output = output + self.rng.gumbel(size=output.shape)
                actions[agent] = np.int64(np.argmax(output))
            else:
                unit = np.tanh(output)
                if explore:
                    unit = np.clip(unit + sigma * self.rng.standard_normal(unit.shape), -1.0, 1.0)
                actions[agent] = scaler.to_env(unit)
        return actions

    def _unit_action(self, k: int, action: Any) -> np.ndarray:
        scaler = self.scalers[k]
        if scaler is not None:
            return scaler.to_unit(action)
        one_hot = np.zeros(self.action_sizes[k])
        one_hot[int(np.asarray(action).reshape(-1)[0])] = 1.0
        return one_hot

    # ------------------------------------------------------------------ storing
    def observe(self, transition: Transition, state: np.ndarray | None = None,
                next_state: np.ndarray | None = None) -> None:
        """Store one joint row. ``state``/``next_state`` (``critic_input="state"``) default to the
        state read at the last :meth:`act` and ``env.state()`` now."""
        missing = [a for a in self.agents if a not in transition.actions
                   or a not in transition.next_observations]
        if missing:
            raise ValueError(f"MADDPG needs every controlled agent in each transition; missing "
                             f"{missing} (agents must stay alive for the whole episode)")
        row: dict[str, np.ndarray] = {
            "reward": np.array([transition.rewards[a] for a in self.agents], dtype=np.float64),
            "terminated": np.array([transition.terminations[a] for a in self.agents], dtype=bool),
        }
        for k, agent in enumerate(self.agents):
            obs = np.asarray(transition.observations[agent]).reshape(-1)
            row[f"obs_{k}"] = obs
            row[f"next_obs_{k}"] = np.asarray(transition.next_observations[agent]).reshape(-1)
            row[f"action_{k}"] = self._unit_action(k, transition.actions[agent])
            self.obs_normalizers[k].update(obs)
        if self.config.critic_input == "state":
            state = self._pending_state if state is None else state
            if state is None:
                raise ValueError("critic_input='state': call act() before observe() or pass state=")
            next_state = self.env.state() if next_state is None else next_state
            row["state"] = np.asarray(state).reshape(-1)
            row["next_state"] = np.asarray(next_state).reshape(-1)
            self.state_normalizer.update(row["state"])
        self.buffer.add(row)
        self.env_steps += 1

    # ------------------------------------------------------------------ learning
    def _tensors(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        """A sampled batch as tensors, observations and states normalized."""
        out: dict[str, Any] = {
            "reward": torch.as_tensor(batch["reward"]),
            "terminated": torch.as_tensor(batch["terminated"]),
            "obs": [torch.as_tensor(self.obs_normalizers[k](batch[f"obs_{k}"])) for k in range(self.n)],
            "next_obs": [torch.as_tensor(self.obs_normalizers[k](batch[f"next_obs_{k}"]))
                         for k in range(self.n)],
            "actions": [torch.as_tensor(batch[f"action_{k}"]) for k in range(self.n)],
        }
        if self.config.critic_input == "state":
            out["context"] = torch.as_tensor(self.state_normalizer(batch["state"]))
            out["next_context"] = torch.as_tensor(self.state_normalizer(batch["next_state"]))
        else:
            out["context"] = torch.cat(out["obs"], dim=1)
            out["next_context"] = torch.cat(out["next_obs"], dim=1)
        return out

    def _q_all(self, head: int, context: torch.Tensor, actions: Sequence[torch.Tensor],
               critics: nn.ModuleList | None = None) -> torch.Tensor:
        """Every agent's ``Q_i(c, a_1..a_N)`` of critic head ``head`` (0, or 1 for the twin) for
        one joint action, shape ``(batch, n)``."""
        critics = self.critics if critics is None else critics
        inputs = torch.cat([context, *actions], dim=1)
        if self.config.critic_sharing == "shared":
            return self._shared_heads(critics[head], inputs)
        return torch.stack([critics[head * self.n + i](inputs)[:, 0] for i in range(self.n)],
                           dim=1)

    def _q_own(self, context: torch.Tensor, actions: Sequence[torch.Tensor],
               own: Sequence[torch.Tensor]) -> torch.Tensor:
        """Column ``i``: ``Q_i`` (head 0) of the joint action with agent ``i``'s action replaced by
        ``own[i]`` and the others' from ``actions`` (the actor losses), shape ``(batch, n)``."""
        if self.config.critic_sharing == "shared":
            inputs = torch.cat([context, *actions], dim=1)
            first = self.critics[0][0].weight
            # the first layer is linear: replacing a_i adds W_{a_i} (own_i - a_i) to its input
            starts = np.cumsum([context.shape[1], *self.action_sizes])
            shifts = torch.stack([(own[i] - actions[i]) @ first[:, starts[i]:starts[i + 1]].T
                                  for i in range(self.n)], dim=1)
            return self._shared_heads(self.critics[0], inputs, shifts)
        return torch.stack([
            self.critics[i](torch.cat([context, *[own[k] if k == i else actions[k]
                                                  for k in range(self.n)]], dim=1))[:, 0]
            for i in range(self.n)], dim=1)

    def _shared_heads(self, critic: nn.Sequential, inputs: torch.Tensor,
                      shifts: torch.Tensor | None = None) -> torch.Tensor:
        """The shared critic's output ``i`` at ``[inputs, one_hot(i)]`` for every agent ``i``,
        shape ``(batch, n)``, with ``shifts`` ``(batch, n, width)`` added to agent ``i``'s first
        pre-activation. The first layer is computed once and the one-hot id enters as its weight
        column (``W [x; e_i] = W_x x + W_{:, i}``): the same function as ``n`` forward passes of
        ``[inputs, e_i]``, at the cost of one for the widest layer (the joint input grows with
        ``n``, so ``n`` passes cost ``O(n^2)``), and of pass ``i`` only output ``i`` is computed."""
        first = critic[0]
        size = inputs.shape[1]
        hidden = F.linear(inputs, first.weight[:, :size], first.bias)
        hidden = hidden.unsqueeze(1) + first.weight[:, size:].T.unsqueeze(0)  # (batch, n, width)
        if shifts is not None:
            hidden = hidden + shifts
        hidden = critic[1:-1](hidden)  # (batch, n, width): row i is the pass with agent id i
        last = critic[-1]  # of pass i only output i is read: one dot product per row
        return torch.einsum("bnh,nh->bn", hidden, last.weight) + last.bias

    def _policy_action(self, k: int, obs: torch.Tensor, actors: nn.ModuleList,
                       differentiable: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(action in learner units, pre-activation): tanh for Box; for Discrete a
        straight-through Gumbel sample when differentiable, else the argmax one-hot."""
        output = actors[k](obs)
        if self.scalers[k] is not None:
            return torch.tanh(output), output
        if differentiable:
            return straight_through_gumbel(output, self.config.gumbel_temperature,
                                           self.torch_generator), output
        return F.one_hot(output.argmax(dim=-1), output.shape[-1]).to(output.dtype), output

    def td_targets(self, batch: dict[str, Any]) -> torch.Tensor:
        """``y = s r + gamma (1 - terminated) min_h Q'_h(c', mu'(o'))``, shape ``(batch, n)``;
        with ``reward_sharing="team"`` every column's ``r`` is the row's summed reward.

        ``batch`` is what :meth:`_tensors` returns. Truncated rows bootstrap (the buffer does not
        even store truncations); terminated rows do not.
        """
        cfg = self.config
        reward = batch["reward"]
        if cfg.reward_sharing == "team":
            reward = reward.sum(dim=1, keepdim=True).expand_as(reward)
        reward = reward * cfg.reward_scale
        if cfg.gamma == 0.0:
            return reward
        with torch.no_grad():
            next_actions = []
            for k in range(self.n):
                action, _ = self._policy_action(k, batch["next_obs"][k], self.target_actors, False)
                if cfg.target_noise > 0 and self.scalers[k] is not None:
                    noise = (torch.randn(action.shape, generator=self.torch_generator)
                             * cfg.target_noise).clamp(-cfg.target_noise_clip, cfg.target_noise_clip)
                    action = (action + noise).clamp(-1.0, 1.0)
                next_actions.append(action)
            heads = 2 if cfg.twin_critics else 1
            next_q = torch.stack([self._q_all(h, batch["next_context"], next_actions,
                                              self.target_critics)
                                  for h in range(heads)]).min(dim=0).values
            return reward + cfg.gamma * (1.0 - batch["terminated"]) * next_q

    def update(self) -> dict[str, float]:
        """Gradient steps when due (every ``update_every`` env steps once ``learning_starts`` rows
        are stored); returns their metrics, or ``{}`` when nothing was done."""
        cfg = self.config
        if self.buffer.size < max(cfg.learning_starts, 1) or self.env_steps % cfg.update_every:
            return {}
        metrics: dict[str, list[float]] = {}
        for _ in range(cfg.gradient_steps):
            for key, value in self._gradient_step().items():
                metrics.setdefault(key, []).append(value)
        result = {key: float(np.mean(values)) for key, values in metrics.items()}
        result["noise_sigma"] = self.noise_sigma()
        return result

    def _gradient_step(self) -> dict[str, float]:
        cfg = self.config
        batch = self._tensors(self.buffer.sample(cfg.batch_size, self.rng))
        targets = self.td_targets(batch)
        heads = 2 if cfg.twin_critics else 1
        metrics: dict[str, float] = {"target_mean": float(targets.mean())}
        # critics: every agent's (or the shared) critic heads regress on the same joint batch
        critic_losses, q_means, critic_norms = [], [], []
        if cfg.critic_sharing == "shared":
            q_heads = [self._q_all(h, batch["context"], batch["actions"]) for h in range(heads)]
        else:
            joint_input = torch.cat([batch["context"], *batch["actions"]], dim=1)  # one for all
        for index, optimizer in enumerate(self.critic_optimizers):
            agents = range(self.n) if cfg.critic_sharing == "shared" else [index]
            loss = torch.zeros(())
            for i in agents:
                for h in range(heads):
                    if cfg.critic_sharing == "shared":
                        q = q_heads[h][:, i]
                    else:
                        q = self.critics[h * self.n + i](joint_input)[:, 0]
                    loss = loss + F.mse_loss(q, targets[:, i])
                    if h == 0:
                        q_means.append(float(q.detach().mean()))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            critic_norms.append(clip_and_step(optimizer, self.critic_parameters[index],
                                               cfg.max_grad_norm))
            critic_losses.append(float(loss.detach()))
        metrics.update(critic_loss=float(np.mean(critic_losses)), q_mean=float(np.mean(q_means)),
                       critic_grad_norm=float(np.mean(critic_norms)))
        self.gradient_steps += 1
        if self.gradient_steps % cfg.policy_delay:
            return metrics
        # actors: agent i's action from its current policy, the others' from the buffer or their
        # current policies (detached: no gradient into the other actors)
        if cfg.others_actions == "current":
            with torch.no_grad():
                current = [self._policy_action(k, batch["obs"][k], self.actors, True)[0]
                           for k in range(self.n)]
        own, pre_activations = zip(*(self._policy_action(i, batch["obs"][i], self.actors, True)
                                     for i in range(self.n)))
        others = batch["actions"] if cfg.others_actions == "buffer" else current
        # agent i's loss reaches only actor i (the others' actions are detached), so one backward
        # pass of the summed losses gives every actor its own gradient
        actor_losses = (-self._q_own(batch["context"], [a.detach() for a in others], own).mean(dim=0)
                        + cfg.actor_reg * torch.stack([(z ** 2).mean() for z in pre_activations]))
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_losses.sum().backward()
        actor_norms = clip_groups_and_step(self.actor_optimizer, self.actor_parameters,
                                           cfg.max_grad_norm)
        actor_losses = actor_losses.detach().numpy()
        for parameters in self.critic_parameters:  # the actor losses left critic gradients
            for parameter in parameters:
                parameter.grad = None
        soft_update(*self._target_pairs, cfg.tau)
        metrics.update(actor_loss=float(np.mean(actor_losses)),
                       actor_grad_norm=float(np.mean(actor_norms)))
        return metrics

    def end_episode(self) -> None:
        """Nothing: exploration is annealed per env step, the buffer spans episodes."""
        self._pending_state = None

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "algorithm": "MADDPG", "agents": list(self.agents), "config": self.config.to_dict(),
            "env_steps": self.env_steps, "gradient_steps": self.gradient_steps,
            "actors": {str(k): _module_state(m) for k, m in enumerate(self.actors)},
            "critics": {str(k): _module_state(m) for k, m in enumerate(self.critics)},
            "target_actors": {str(k): _module_state(m) for k, m in enumerate(self.target_actors)},
            "target_critics": {str(k): _module_state(m) for k, m in enumerate(self.target_critics)},
            "actor_optimizers": self._actor_optimizer_states(),
            "critic_optimizers": {str(k): _optimizer_state(o)
                                  for k, o in enumerate(self.critic_optimizers)},
            "obs_normalizers": {str(k): n.state_dict() for k, n in enumerate(self.obs_normalizers)},
            "state_normalizer": self.state_normalizer.state_dict(),
            "rng": rng_state(self.rng),
            "torch_generator": self.torch_generator.get_state().numpy().copy(),
        }
        if self.config.checkpoint_buffer:
            state["buffer"] = self.buffer.state_dict()
        return state

    def _actor_optimizer_states(self) -> dict[str, Any]:
        """The shared actor optimizer's moments split per actor (``{k: {j: moments}}``, ``j`` the
        index of the parameter within actor ``k``): the layout of one optimizer per actor."""
        moments = _optimizer_state(self.actor_optimizer)
        states, offset = {}, 0
        for k, parameters in enumerate(self.actor_parameters):
            states[str(k)] = {str(j): moments[str(offset + j)] for j in range(len(parameters))
                              if str(offset + j) in moments}
            offset += len(parameters)
        return states

    def _load_actor_optimizer_states(self, states: dict[str, Any]) -> None:
        merged, offset = {}, 0
        for k, parameters in enumerate(self.actor_parameters):
            merged.update({str(offset + int(j)): value for j, value in states[str(k)].items()})
            offset += len(parameters)
        _load_optimizer(self.actor_optimizer, merged)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("algorithm") != "MADDPG" or list(state["agents"]) != self.agents:
            raise ValueError(f"checkpoint is for {state.get('algorithm')} on {state.get('agents')}, "
                             f"not MADDPG on {self.agents}")
        saved = MADDPGConfig.from_dict(state["config"])
        if saved != self.config:
            changed = {k: (v, getattr(self.config, k)) for k, v in saved.to_dict().items()
                       if self.config.to_dict()[k] != v}
            raise ValueError(f"checkpoint config differs (saved, current): {changed}")
        for name in ("actors", "critics", "target_actors", "target_critics"):
            for k, module in enumerate(getattr(self, name)):
                _load_module(module, state[name][str(k)])
        self._load_actor_optimizer_states(state["actor_optimizers"])
        for k, optimizer in enumerate(self.critic_optimizers):
            _load_optimizer(optimizer, state["critic_optimizers"][str(k)])
        for k, normalizer in enumerate(self.obs_normalizers):
            normalizer.load_state_dict(state["obs_normalizers"][str(k)])
        self.state_normalizer.load_state_dict(state["state_normalizer"])
        if "buffer" in state:
            self.buffer.load_state_dict(state["buffer"])
        self.rng = restore_rng(state["rng"])
        self.torch_generator.set_state(torch.as_tensor(np.asarray(state["torch_generator"],
                                                                  dtype=np.uint8)))
        self.env_steps, self.gradient_steps = int(state["env_steps"]), int(state["gradient_steps"])

    def save(self, path: str | os.PathLike[str]) -> None:
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        self.load_state_dict(load_state(path))


def _frozen_copy(modules: nn.ModuleList) -> nn.ModuleList:
    import copy
    target = copy.deepcopy(modules)
    for param in target.parameters():
        param.requires_grad_(False)
    return target
