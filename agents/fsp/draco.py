"""DRACO: fictitious self-play with an actor-critic best response (paper 000, Alg. 1-2).

Per controlled agent (a vehicle of the V2X market, or any agent of a parallel env with ``Box``
actions of one shape):

* **ψ, the average behaviour** (SL, Alg. 1 line 8): an MLP from the current observation to a
  Gaussian over the action, fitted by maximum likelihood to the agent's own past best-response
  actions kept in a reservoir (:class:`~agents.fsp.buffers.GroupedReservoir`).
* **ζ, the best response** (RL, Alg. 2): an actor-critic. The actor maps the last ν observations,
  read by a stacked CNN with a highway layer (:class:`~agents.fsp.networks.HighwayCNN`), to a
  Gaussian ``N(μ, L Lᵀ)`` with lower-triangular ``L``. The critic (same architecture, own
  parameters) learns ``V(S)`` with the average-reward TD error ``δ = u − R̄ + V(S′) − V(S)``,
  ``R̄`` an exponential moving average of the agent's rewards (rate 0.01). Actor step: ascend
  ``ρ δ ∇ ln ζ(x | S)``.
* **Mixing** (Alg. 1 line 3): at its ``t``-th decision the agent plays ζ with probability η(t),
  else ψ (:mod:`agents.fsp.schedules`: ``"1/t"`` paper, ``"50/(t+50)"`` authors' code,
  ``"constant"``).

How η is applied, and why the best-response data do not dry up (LEARNERS §4.3)
------------------------------------------------------------------------------
η is drawn **per agent and per decision step** (the paper's Alg. 1 loops over time steps; a V2X
episode is 8000 steps, so a per-episode draw would give a handful of draws). With ``"1/t"`` the
*played* best response then becomes rare (Σ 1/t ≈ ln T), which starves a naive NFSP (LEARNERS
§4.3 (b)). Here η only decides what is *played*:

1. At every decision step the best response is sampled (``x_ζ ~ ζ(S)``) whether or not it is
   played, and ``(observation, x_ζ)`` goes to the reservoir, so ψ is fitted to a uniform sample of
   all best responses so far — the 1/t fictitious-play average through the reservoir
   (LEARNERS §4.3 (a)) — at a constant rate of one pair per decision.
2. The actor learns from *every* decision step, including those where ψ was played, with the
   importance weight ``ρ = ζ(x|S) / (η ζ_old(x|S) + (1 − η) ψ_old(x|S))`` (the played action's
   density under the behaviour mixture at acting time; clipped at ``importance_clip``), so it is
   off-policy-corrected instead of seeing only the η share (LEARNERS §4.4). The critic learns the
   value of the behaviour actually played, on every step.

Masking (``needs_action = 0``)
------------------------------
On a step where an agent has nothing to decide, its action is ignored by the env, so that step
adds nothing to the actor's or ψ's loss and does not advance its ``t``; the critic and ``R̄`` still
see it (the state's value is defined whether or not the agent acts, and rewards of earlier
decisions arrive on such steps). Where the flag comes from, first that applies:

1. ``mask_fn(agent, observation) -> bool``, if given;
2. the env's observation layout (``env.unwrapped.layout_of(agent)`` or ``.layout``) field
   ``"needs_action"``, read by name;
3. the documented info key ``infos[agent]["needs_action"]`` of the previous step (it describes the
   observation that step returned; the first step of each episode counts as a decision);
4. otherwise every step is a decision (KellyGame).

Actions
-------
Both Gaussians live in an unbounded *latent* space; :meth:`DRACOLearner.to_env_action` is the one
place that maps a latent ``x`` to the action sent: ``low + (high − low) · sigmoid(x)``
(``squash="sigmoid"``, the default; a bijection, so ``∇θ ln`` of the latent density is the exact
score of the action sent and the log-prob is consistent with it) or ``clip(x, low, high)``
(``squash="clip"``, the paper's literal "sample, then use": biased where it clips). The latent
samples are what the reservoir and the rollouts store.

Initial action [decision]: by default both means start near latent 0, the centre of the Box; on
V2X that is ``alpha ≈ 0.5`` (about 60% of the requests held 5 steps) and a bid of half the budget,
far from the passive vehicles' "submit now at 750", and 25 actor steps of an 800-step run barely move
it. ``init_action`` starts both means (mean-head weights scaled by 0.01, bias at the latent of the
action) at a given action instead, e.g. the passive policy's, so learning starts from the
reference and explores around it.

Batching [decision]: Alg. 2 updates after every step; here the actor and critic take one gradient
step per ``rollout_steps`` steps of every agent (TD(0) targets per step, as in A2C), and ψ one step
every ``sl_every`` steps: the same estimator, fewer calls (CPU budget).
With ``credit_lookahead = k`` the buffer
holds ``rollout_steps + k`` rows: the λ-sums of the first ``rollout_steps`` rows (the ones trained)
run through the last ``k``, which are kept and trained with the next rollout, so a held request's
outcome a few steps after the rollout's end still reaches its decision instead of being cut and
bootstrapped on ``V``.

Warm start [ours; the paper trains from scratch]: :meth:`DRACOLearner.imitate` clones a
demonstrator (a scripted policy played for some steps) into the means of ζ and ψ before any RL
step, leaving the scales, ``R̄``, the decision counts, the reservoirs and the RL optimizers as they
were; ``benchmarks.reproduce_draco --imitate NAME`` reports such runs under their own verdict line.

Checkpoints (``save``/``load``) use the safe format of :mod:`agents.base` and hold the networks,
the Adam states, the normalizers, ``R̄``, the decision counts, the reservoirs, the current
rollout, the history windows and the generator: a reloaded learner acts and trains identically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.base import Actions, Observations, Transition, load_state, restore_rng, rng_state, save_state
from agents.fsp.buffers import GroupedReservoir
from agents.fsp.networks import (
    GroupedMLP,
    HighwayCNN,
    gaussian_from_output,
    gaussian_log_prob,
    gaussian_parameter_count,
    gaussian_sample,
)
from agents.fsp.schedules import ETA_SCHEDULES, eta

MaskFn = Callable[[str, np.ndarray], bool]


@dataclass(frozen=True)
class DRACOConfig:
    """Every hyper-parameter of DRACO, with its provenance: [paper] paper 000, [code] the authors'
    code as summarized in MARKETS §2, [ours] our choice where both are silent (CPU-sized)."""

    history: int = 16  #: ν, states in the RL window [paper]
    filter_heights: tuple[int, ...] = (1, 3, 5, 7, 9, 11, 13, 15)  #: CNN filter heights [paper, MARKETS §2]
    filters: int = 8  #: kernels per filter height [ours; SeqGAN's discriminator uses 100-200]
    embedding: int = 16  #: channels each state is embedded into before the CNN (SeqGAN) [ours]
    sl_hidden: tuple[int, ...] = (64, 64)  #: ψ's MLP ("a multilayer perceptron" [paper]) [ours]
    eta_schedule: str = "50/(t+50)"  #: "1/t" [paper], "50/(t+50)" [code], "constant"
    eta_constant: float = 0.1  #: η of "constant" (NFSP's anticipatory 0.1, LEARNERS §4.2)
    rbar_rate: float = 0.01  #: EMA rate of R̄ [paper, code]
    gamma: float = 1.0  #: 1 = the paper's average-reward TD; < 1 discounts V(S′) [paper]
    td_lambda: float = 0.0  #: λ of the advantage (GAE within a rollout); 0 = the paper's δ [paper]
    #: "step": λ applies between every pair of env steps (the stored v1 results); "decision": an
    #: agent's steps with needs_action = 0 continue its last decision (λ = 1 across them), so the
    #: rewards of a held request's later admission or failure, which arrive on masked steps, are
    #: credited to the decision that caused them (semi-MDP average-reward advantage) [ours]
    credit: str = "step"
    #: rows kept past each rollout to finish its last decisions' λ-sums (0: the sum is cut at the
    #: rollout's end and bootstrapped on V); each row still trains once, one update later [ours]
    credit_lookahead: int = 0
    actor_lr: float = 3e-4  #: Adam [ours]
    critic_lr: float = 1e-3  #: Adam [ours]
    sl_lr: float = 1e-3  #: Adam (RLCard's SL uses 5e-3) [ours]
    rollout_steps: int = 32  #: env steps per actor-critic gradient step [ours]
    sl_every: int = 8  #: env steps per ψ gradient step [ours]
    sl_batch: int = 64  #: reservoir rows per agent per ψ step [ours]
    sl_min: int = 64  #: an agent's ψ trains once its reservoir holds this many rows [ours]
    reservoir_capacity: int = 4000  #: rows per agent (OpenSpiel 2e6, RLCard 2e4; memory) [ours]
    importance_clip: float = 5.0  #: cap of ρ (truncated importance sampling) [ours]
    min_scale: float = 0.02  #: floor of L's diagonal (latent units) [ours]
    init_scale: float = 0.5  #: initial diagonal of L (latent units) [ours]
    #: the action both Gaussians' means start at, in the env's action units (one number per action
    #: dimension, or one for all); ``None``: latent 0, the centre of the Box [ours; module docstring]
    init_action: tuple[float, ...] | None = None
    entropy_coef: float = 0.0  #: weight of the actor's entropy bonus (none in the paper)
    max_grad_norm: float = 1.0  #: global gradient-norm clip per network [ours]
    share_parameters: bool = False  #: one set of networks for all agents (speed) [ours]
    squash: str = "sigmoid"  #: "sigmoid" (bijective) or "clip" (paper-literal, biased)
    eval_policy: str = "average"  #: explore=False plays the mean of "average" ψ or "best_response" ζ
    normalize_observations: bool = True  #: running mean/std of observations, clipped at ±10 [ours]
    normalize_rewards: bool = True  #: rewards divided by their running std [ours]
    seed: int = 0

    def __post_init__(self) -> None:
        # sequences given as lists (JSON, CLI) become tuples: equal configs compare equal, so a
        # checkpoint written from one resumes under the other
        for name in ("filter_heights", "sl_hidden", "init_action"):
            value = getattr(self, name)
            if isinstance(value, (list, np.ndarray)):
                object.__setattr__(self, name, tuple(value))
        _check(self.history >= 1, "history", self.history, "an int >= 1")
        _check(len(self.filter_heights) > 0
               and all(1 <= h <= self.history for h in self.filter_heights),
               "filter_heights", self.filter_heights, f"heights in [1, history={self.history}]")
        for name in ("filters", "embedding", "rollout_steps", "sl_every", "sl_batch", "sl_min",
                     "reservoir_capacity"):
            value = getattr(self, name)
            _check(isinstance(value, (int, np.integer)) and value >= 1, name, value, "an int >= 1")
        _check(self.eta_schedule in ETA_SCHEDULES, "eta_schedule", self.eta_schedule,
               f"one of {ETA_SCHEDULES}")
        _check(0.0 <= self.eta_constant <= 1.0, "eta_constant", self.eta_constant, "in [0, 1]")
        _check(0.0 < self.rbar_rate <= 1.0, "rbar_rate", self.rbar_rate, "in (0, 1]")
        _check(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "in [0, 1]")
        _check(0.0 <= self.td_lambda <= 1.0, "td_lambda", self.td_lambda, "in [0, 1]")
        _check(self.credit in ("step", "decision"), "credit", self.credit,
               "'step' or 'decision'")
        _check(isinstance(self.credit_lookahead, (int, np.integer)) and self.credit_lookahead >= 0,
               "credit_lookahead", self.credit_lookahead, "an int >= 0")
        for name in ("actor_lr", "critic_lr", "sl_lr", "importance_clip", "min_scale",
                     "max_grad_norm"):
            value = getattr(self, name)
            _check(math.isfinite(value) and value > 0, name, value, "a finite number > 0")
        _check(math.isfinite(self.init_scale) and self.init_scale > self.min_scale, "init_scale",
               self.init_scale, f"a finite number > min_scale={self.min_scale}")
        _check(self.init_action is None or (len(self.init_action) >= 1 and all(
            math.isfinite(v) for v in self.init_action)), "init_action", self.init_action,
            "None or a tuple of finite numbers")
        _check(self.entropy_coef >= 0, "entropy_coef", self.entropy_coef, ">= 0")
        _check(self.squash in ("sigmoid", "clip"), "squash", self.squash, "'sigmoid' or 'clip'")
        _check(self.eval_policy in ("average", "best_response"), "eval_policy", self.eval_policy,
               "'average' or 'best_response'")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filter_heights"] = list(self.filter_heights)
        data["sl_hidden"] = list(self.sl_hidden)
        data["init_action"] = None if self.init_action is None else list(self.init_action)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DRACOConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("filter_heights", "sl_hidden"):
            if name in values:
                values[name] = tuple(int(v) for v in values[name])
        if values.get("init_action") is not None:
            values["init_action"] = tuple(float(v) for v in values["init_action"])
        return cls(**values)


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ValueError(f"DRACOConfig.{name} must be {expected}; got {value!r}")


# ---------------------------------------------------------------------------- running statistics
@dataclass
class RunningMoments:
    """Mean and variance over everything seen (Chan et al.'s parallel update), per feature."""

    mean: np.ndarray
    m2: np.ndarray
    count: float = 0.0

    @classmethod
    def zeros(cls, size: int) -> RunningMoments:
        return cls(np.zeros(size), np.zeros(size), 0.0)

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64).reshape(-1, self.mean.size)
        n = batch.shape[0]
        if n == 0:
            return
        batch_mean = batch.mean(axis=0)
        batch_m2 = ((batch - batch_mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + batch_m2 + delta ** 2 * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        if self.count < 2:
            return np.ones_like(self.mean)
        std = np.sqrt(self.m2 / self.count)
        return np.where(std > 1e-8, std, 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.copy(), "m2": self.m2.copy(), "count": float(self.count)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mean = np.array(state["mean"], dtype=np.float64)
        self.m2 = np.array(state["m2"], dtype=np.float64)
        self.count = float(state["count"])


# ---------------------------------------------------------------------------- losses
def lambda_advantages(delta: torch.Tensor, episode_end: torch.Tensor, gamma: float,
                      td_lambda: float | torch.Tensor) -> torch.Tensor:
    """GAE over the last axis (time): ``A_t = δ_t + γ λ_{t+1} (1 − end_t) A_{t+1}``,
    ``A_T = δ_T``; ``λ = 0`` gives ``A_t = δ_t`` (the paper's one-step δ). ``td_lambda`` is a
    number or a tensor shaped like ``delta`` (``λ_{t+1}`` read at ``t + 1``; see
    :func:`decision_lambdas`)."""
    if not torch.is_tensor(td_lambda) and td_lambda == 0.0:
        return delta
    lambdas = (td_lambda if torch.is_tensor(td_lambda)
               else torch.full_like(delta, float(td_lambda)))
    advantages = torch.zeros_like(delta)
    running = torch.zeros_like(delta[..., 0])
    for t in range(delta.shape[-1] - 1, -1, -1):
        if t + 1 < delta.shape[-1]:
            running = running * lambdas[..., t + 1]
        running = delta[..., t] + gamma * (1.0 - episode_end[..., t]) * running
        advantages[..., t] = running
    return advantages


def decision_lambdas(mask: torch.Tensor, td_lambda: float) -> torch.Tensor:
    """Per-step λ of ``credit="decision"``: 1 on a step without a decision (``mask = 0``), so
    the δ of masked steps sum, undiscounted by λ, onto the agent's last decision, and
    ``td_lambda`` where a new decision starts. With γ = 1 the advantage of a decision at ``t``
    followed by masked steps up to the next decision ``t'`` is
    ``Σ_{k=t}^{t'−1} (u_k − R̄_k) + V(S_{t'}) − V(S_t) + td_lambda · A_{t'}``."""
    return torch.where(mask > 0, torch.full_like(mask, td_lambda), torch.ones_like(mask))


def actor_critic_losses(actor: HighwayCNN, critic: HighwayCNN, batch: Mapping[str, torch.Tensor],
                        action_dim: int, config: DRACOConfig) -> dict[str, torch.Tensor]:
    """The actor and critic losses of one batch (every tensor ``[G, N, ...]``; with
    ``td_lambda > 0`` or ``credit="decision"`` the N axis is agent-major, ``rollout_steps``
    consecutive steps per agent).

    ``batch``: ``states``/``next_states`` (normalized windows), ``latent`` (the played latent
    action), ``behaviour_log_prob`` (its log-density under the mixture when it was played),
    ``reward`` (normalized), ``rbar`` (R̄ before that reward), ``terminated``, ``episode_end``
    (terminated or truncated), ``mask`` (1 on decision steps). The TD error is the paper's
    ``δ = u − R̄ + γ V(S′) − V(S)`` (no bootstrap after a termination) and the advantage ``A`` its
    λ-sum (:func:`lambda_advantages`; ``A = δ`` for λ = 0). Critic: ``½ mean (V(S) − (V(S) + A))²``
    with the target held fixed (semi-gradient TD(λ)), over every step; with ``credit="decision"``
    λ is 1 across an agent's masked steps (:func:`decision_lambdas`). Actor:
    ``−Σ mask · ρ · A · ln ζ(x|S) / Σ mask`` (ρ and A held fixed), minus the entropy bonus.
    """
    value = critic(batch["states"])[..., 0]
    with torch.no_grad():
        next_value = critic(batch["next_states"])[..., 0]
        delta = (batch["reward"] - batch["rbar"]
                 + config.gamma * (1.0 - batch["terminated"]) * next_value - value)
        if config.td_lambda or config.credit == "decision":
            shape = delta.shape
            steps = config.rollout_steps + config.credit_lookahead
            delta_t = delta.reshape(-1, steps)
            ends = batch["episode_end"].reshape(-1, steps)
            lambdas: float | torch.Tensor = config.td_lambda
            if config.credit == "decision":
                lambdas = decision_lambdas(batch["mask"].reshape(-1, steps), config.td_lambda)
            advantage = lambda_advantages(delta_t, ends, config.gamma, lambdas).reshape(shape)
        else:
            advantage = delta
        target = value + advantage
    train = batch.get("train")
    if train is None:
        critic_loss = 0.5 * ((target - value) ** 2).mean()
    else:  # the lookahead tail only feeds the λ-sums of the rows before it
        critic_loss = 0.5 * (train * (target - value) ** 2).sum() / train.sum().clamp(min=1.0)
    mean, scale = gaussian_from_output(actor(batch["states"]), action_dim, config.min_scale)
    log_prob = gaussian_log_prob(batch["latent"], mean, scale)
    mask = batch["mask"] if train is None else batch["mask"] * train
    rho = torch.exp(log_prob.detach() - batch["behaviour_log_prob"]).clamp(
        max=config.importance_clip)
    weight = mask * rho * advantage
    decisions = mask.sum().clamp(min=1.0)
    actor_loss = -(weight * log_prob).sum() / decisions
    entropy = (torch.log(torch.diagonal(scale, dim1=-2, dim2=-1)).sum(-1) * mask).sum() / decisions
    if config.entropy_coef:
        actor_loss = actor_loss - config.entropy_coef * entropy
    return {"critic_loss": critic_loss, "actor_loss": actor_loss, "delta": delta,
            "rho": (rho * mask).sum() / decisions, "entropy": entropy.detach()}


def average_policy_loss(network: GroupedMLP, inputs: torch.Tensor, targets: torch.Tensor,
                        weights: torch.Tensor, action_dim: int, min_scale: float) -> torch.Tensor:
    """ψ's maximum-likelihood loss: the weighted mean negative log-density of the targets."""
    mean, scale = gaussian_from_output(network(inputs), action_dim, min_scale)
    nll = -gaussian_log_prob(targets, mean, scale)
    return (weights * nll).sum() / weights.sum().clamp(min=1e-12)


# ---------------------------------------------------------------------------- the learner
class DRACOLearner:
    """The joint DRACO learner of a group of agents (see the module docstring).

    Args:
        env: a PettingZoo parallel env; its agents' observation spaces must share one shape and
            their action spaces must be ``Box`` of one shape with finite bounds.
        config: the hyper-parameters (default :class:`DRACOConfig`); keyword ``overrides``
            replace single fields (``DRACOLearner(env, seed=3, eta_schedule="1/t")``).
        agents: the agents controlled (default ``env.possible_agents``), in a fixed order.
        mask_fn: ``mask_fn(agent, observation) -> bool`` (True: the agent decides this step);
            default: the env's ``needs_action`` (module docstring, Masking).
    """

    def __init__(self, env: Any, config: DRACOConfig | None = None,
                 agents: Sequence[str] | None = None, mask_fn: MaskFn | None = None,
                 **overrides: Any) -> None:
        self.config = replace(config or DRACOConfig(), **overrides)
        cfg = self.config
        self.agents = list(env.possible_agents if agents is None else agents)
        if not self.agents:
            raise ValueError("DRACOLearner needs at least one agent")
        obs_shapes = {tuple(env.observation_space(a).shape) for a in self.agents}
        act_spaces = [env.action_space(a) for a in self.agents]
        if len(obs_shapes) != 1:
            raise ValueError(f"agents must share one observation shape; got {obs_shapes}")
        act_shapes = {tuple(getattr(s, "shape", ()) or ()) for s in act_spaces}
        if len(act_shapes) != 1 or not all(hasattr(s, "low") for s in act_spaces):
            raise ValueError(f"agents need Box action spaces of one shape; got {act_spaces}")
        self.obs_size = int(np.prod(next(iter(obs_shapes))))
        self.action_shape = next(iter(act_shapes))
        self.action_dim = int(np.prod(self.action_shape))
        self.low = np.stack([np.asarray(s.low, np.float64).reshape(-1) for s in act_spaces])
        self.high = np.stack([np.asarray(s.high, np.float64).reshape(-1) for s in act_spaces])
        self.action_dtype = act_spaces[0].dtype
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError("DRACO maps its Gaussian to the action Box: the bounds must be finite")
        self.n_agents = len(self.agents)
        self.groups = 1 if cfg.share_parameters else self.n_agents
        self._mask_fn, self.mask_source = _resolve_mask(env, self.agents, mask_fn)

        generator = torch.Generator().manual_seed(int(cfg.seed))
        head = gaussian_parameter_count(self.action_dim)
        self.actor = HighwayCNN(self.groups, cfg.history, self.obs_size, cfg.filter_heights,
                                cfg.filters, head, generator, cfg.embedding)
        self.critic = HighwayCNN(self.groups, cfg.history, self.obs_size, cfg.filter_heights,
                                 cfg.filters, 1, generator, cfg.embedding)
        self.average = GroupedMLP(self.groups, self.obs_size, cfg.sl_hidden, head, generator)
        start = math.log(math.expm1(cfg.init_scale - cfg.min_scale))  # softplus⁻¹
        start_mean = None if cfg.init_action is None else self.to_latent(self._init_action())
        with torch.no_grad():
            for output in (self.actor.head, self.average.layers[-1]):
                output.weight[..., self.action_dim:2 * self.action_dim].mul_(0.01)
                output.bias[..., self.action_dim:2 * self.action_dim].fill_(start)
                if start_mean is not None:  # small mean weights: every state starts near it
                    output.weight[..., :self.action_dim].mul_(0.01)
                    output.bias[..., :self.action_dim] = torch.as_tensor(
                        start_mean.reshape(self.groups, -1, self.action_dim)[:, :1],
                        dtype=output.bias.dtype)
        self.networks: dict[str, nn.Module] = {"actor": self.actor, "critic": self.critic,
                                               "average": self.average}
        self.optimizers = {
            "actor": torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr),
            "average": torch.optim.Adam(self.average.parameters(), lr=cfg.sl_lr),
        }
        self.rng = np.random.default_rng(cfg.seed)
        self.obs_moments = RunningMoments.zeros(self.obs_size)
        self.reward_moments = RunningMoments.zeros(1)
        self.rbar = np.zeros(self.n_agents)
        self.decisions = np.zeros(self.n_agents, dtype=np.int64)  # t of each agent so far
        self.reservoir = GroupedReservoir(self.n_agents, cfg.reservoir_capacity, self.obs_size,
                                          self.action_dim)
        a, h, f, d = self.n_agents, cfg.history, self.obs_size, self.action_dim
        t = cfg.rollout_steps + cfg.credit_lookahead
        self.rollout = {
            "states": np.zeros((t, a, h, f), np.float32),
            "next_states": np.zeros((t, a, h, f), np.float32),
            "latent": np.zeros((t, a, d), np.float32),
            "behaviour_log_prob": np.zeros((t, a), np.float32),
            "reward": np.zeros((t, a), np.float32),
            "rbar": np.zeros((t, a), np.float32),
            "terminated": np.zeros((t, a), np.float32),
            "episode_end": np.zeros((t, a), np.float32),
            "mask": np.zeros((t, a), np.float32),
        }
        self.rollout_size = 0
        self.history = np.zeros((a, h, f), np.float32)  # the training stream's window
        self.eval_history = np.zeros((a, h, f), np.float32)  # explore=False's own window
        self._info_mask: np.ndarray | None = None  # needs_action from the last step's infos
        self._pending: dict[str, np.ndarray] | None = None
        self.env_steps = 0
        self.updates = 0
        self.sl_updates = 0
        self.br_played = 0

    # ------------------------------------------------------------------ actions
    def to_env_action(self, latent: np.ndarray) -> np.ndarray:
        """The one place a latent Gaussian sample becomes the action sent (``[A, d]``)."""
        latent = np.asarray(latent, dtype=np.float64)
        if self.config.squash == "sigmoid":
            action = self.low + (self.high - self.low) / (1.0 + np.exp(-latent))
        else:
            action = latent
        # float rounding only: the sigmoid is inside [low, high] mathematically
        return np.clip(action, self.low, self.high).astype(self.action_dtype)

    #: how far inside the Box ``to_latent`` keeps an action under the sigmoid (share of the width):
    #: the Box's edges are at latent ±∞
    LATENT_MARGIN = 0.02

    def to_latent(self, action: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_env_action` (``[A, d]``), the action first kept
        ``LATENT_MARGIN`` of the width inside the Box under ``squash="sigmoid"``."""
        action = np.broadcast_to(np.asarray(action, dtype=np.float64), self.low.shape)
        if self.config.squash != "sigmoid":
            return np.clip(action, self.low, self.high)
        share = np.clip((action - self.low) / (self.high - self.low), self.LATENT_MARGIN,
                        1.0 - self.LATENT_MARGIN)
        return np.log(share) - np.log1p(-share)

    def _init_action(self) -> np.ndarray:
        """``config.init_action`` as ``[A, d]``, checked against the Box."""
        value = np.asarray(self.config.init_action, dtype=np.float64)
        if value.size not in (1, self.action_dim):
            raise ValueError(f"DRACOConfig.init_action must have 1 or {self.action_dim} numbers "
                             f"(the action's size); got {self.config.init_action!r}")
        action = np.broadcast_to(value.reshape(-1), self.low.shape)
        if np.any(action < self.low) or np.any(action > self.high):
            raise ValueError(f"DRACOConfig.init_action {self.config.init_action!r} is outside the "
                             f"action Box [{self.low.min()}, {self.high.max()}]")
        return action

    def _stack(self, observations: Mapping[str, np.ndarray]) -> np.ndarray:
        missing = [agent for agent in self.agents if agent not in observations]
        if missing:
            raise KeyError(f"DRACOLearner controls {missing} but they are not in the observations "
                           f"(agents must stay alive for the whole episode)")
        return np.stack([np.asarray(observations[a], np.float32).reshape(-1)
                         for a in self.agents])

    def _normalize(self, obs: np.ndarray) -> np.ndarray:
        if not self.config.normalize_observations:
            return obs.astype(np.float32)
        z = (obs - self.obs_moments.mean) / self.obs_moments.std
        return np.clip(z, -10.0, 10.0).astype(np.float32)

    def _group(self, x: np.ndarray) -> torch.Tensor:
        """``[A, N, ...]`` → ``[G, N', ...]`` tensor (pooled along N when parameters are shared)."""
        tensor = torch.as_tensor(x)
        return tensor.reshape(1, -1, *tensor.shape[2:]) if self.config.share_parameters else tensor

    def _ungroup(self, y: torch.Tensor, n: int) -> torch.Tensor:
        return y.reshape(self.n_agents, n, *y.shape[2:])

    def _policies(self, windows: np.ndarray, current: np.ndarray
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """ζ's and ψ's (mean, L) for windows ``[A, ν, F]`` and current observations ``[A, F]``."""
        d, ms = self.action_dim, self.config.min_scale
        br = self._ungroup(self.actor(self._group(self._normalize(windows)[:, None])), 1)[:, 0]
        avg = self._ungroup(self.average(self._group(self._normalize(current)[:, None])), 1)[:, 0]
        return (*gaussian_from_output(br, d, ms), *gaussian_from_output(avg, d, ms))

    def decision_mask(self, observations: Mapping[str, np.ndarray]) -> np.ndarray:
        """1 for the agents that decide on these observations (module docstring, Masking)."""
        if self._mask_fn is not None:
            return np.array([bool(self._mask_fn(a, np.asarray(observations[a])))
                             for a in self.agents], dtype=bool)
        if self._info_mask is not None:
            return self._info_mask.copy()
        return np.ones(self.n_agents, dtype=bool)

    def act(self, observations: Observations, explore: bool = True) -> Actions:
        """Actions for every controlled agent; ``explore=False`` plays the mean of
        ``config.eval_policy`` on its own history window and changes no training state."""
        obs = self._stack(observations)
        if not explore:
            self.eval_history = np.concatenate([self.eval_history[:, 1:], obs[:, None]], axis=1)
            with torch.no_grad():
                br_mean, _, avg_mean, _ = self._policies(self.eval_history, obs)
            latent = (avg_mean if self.config.eval_policy == "average" else br_mean).numpy()
            return self._actions(latent)
        if self.config.normalize_observations:
            self.obs_moments.update(obs)
        self.history = np.concatenate([self.history[:, 1:], obs[:, None]], axis=1)
        mask = self.decision_mask(observations)
        t = np.maximum(self.decisions + mask, 1)
        mix = eta(self.config.eta_schedule, t, self.config.eta_constant)
        play_br = self.rng.random(self.n_agents) < mix
        noise = torch.as_tensor(self.rng.standard_normal((2, self.n_agents, self.action_dim)),
                                dtype=torch.float32)
        with torch.no_grad():
            br_mean, br_scale, avg_mean, avg_scale = self._policies(self.history, obs)
            br_latent = gaussian_sample(br_mean, br_scale, noise[0])
            avg_latent = gaussian_sample(avg_mean, avg_scale, noise[1])
            latent = torch.where(torch.as_tensor(play_br)[:, None], br_latent, avg_latent)
            log_br = gaussian_log_prob(latent, br_mean, br_scale).double().numpy()
            log_avg = gaussian_log_prob(latent, avg_mean, avg_scale).double().numpy()
        with np.errstate(divide="ignore"):
            behaviour = np.logaddexp(np.log(mix) + log_br, np.log1p(-mix) + log_avg)
        self.decisions += mask
        self.br_played += int((play_br & mask).sum())
        self._pending = {"states": self.history.copy(), "observation": obs,
                         "latent": latent.numpy(), "br_latent": br_latent.numpy(),
                         "behaviour_log_prob": behaviour.astype(np.float32),
                         "mask": mask.astype(np.float32)}
        return self._actions(latent.numpy())

    def _actions(self, latent: np.ndarray) -> Actions:
        actions = self.to_env_action(latent)
        return {agent: actions[i].reshape(self.action_shape) for i, agent in enumerate(self.agents)}

    # ------------------------------------------------------------------ learning
    def observe(self, transition: Transition) -> None:
        """Store one step: the rollout row, the reservoir pair, R̄ and the reward statistics."""
        if self._pending is None:
            raise RuntimeError("observe() needs a preceding act(..., explore=True)")
        pending, self._pending = self._pending, None
        rewards = np.array([float(transition.rewards[a]) for a in self.agents])
        if self.config.normalize_rewards:
            self.reward_moments.update(rewards[:, None])
            rewards = rewards / float(self.reward_moments.std[0])
        next_obs = self._stack(transition.next_observations)
        row = self.rollout_size
        self.rollout["states"][row] = pending["states"]
        self.rollout["next_states"][row] = np.concatenate(
            [pending["states"][:, 1:], next_obs[:, None]], axis=1)
        self.rollout["latent"][row] = pending["latent"]
        self.rollout["behaviour_log_prob"][row] = pending["behaviour_log_prob"]
        self.rollout["reward"][row] = rewards
        self.rollout["rbar"][row] = self.rbar
        self.rollout["terminated"][row] = [bool(transition.terminations.get(a, False))
                                           for a in self.agents]
        self.rollout["episode_end"][row] = [
            bool(transition.terminations.get(a, False) or transition.truncations.get(a, False))
            for a in self.agents]
        self.rollout["mask"][row] = pending["mask"]
        self.rollout_size += 1
        self.rbar = self.rbar + self.config.rbar_rate * (rewards - self.rbar)
        self.reservoir.add(pending["observation"], pending["br_latent"], pending["mask"] > 0,
                           self.rng)
        self._read_info_mask(transition.infos)
        self.env_steps += 1

    def _read_info_mask(self, infos: Mapping[str, Mapping[str, Any]]) -> None:
        """Keep the documented ``needs_action`` info of a step for the next decision mask
        (without ``mask_fn``; None when an agent's info lacks it)."""
        if self._mask_fn is None:
            flags = [infos.get(a, {}).get("needs_action") for a in self.agents]
            self._info_mask = (None if any(f is None for f in flags)
                               else np.array(flags, dtype=bool))

    def update(self) -> dict[str, float]:
        """One ψ step every ``sl_every`` steps and one actor-critic step per full rollout."""
        metrics: dict[str, float] = {}
        if self.env_steps and self.env_steps % self.config.sl_every == 0 \
                and self.sl_updates < self.env_steps // self.config.sl_every:
            metrics.update(self._average_policy_step())
        steps, tail = self.config.rollout_steps, self.config.credit_lookahead
        if self.rollout_size == steps + tail:
            metrics.update(self._actor_critic_step())
            for value in self.rollout.values():  # the tail trains with the next rollout
                value[:tail] = value[steps:].copy()
            self.rollout_size = tail
        if metrics:
            metrics.update({"rbar": float(self.rbar.mean()),
                            "eta": float(eta(self.config.eta_schedule,
                                             np.maximum(self.decisions, 1),
                                             self.config.eta_constant).mean()),
                            "br_played_share": self.br_played / max(int(self.decisions.sum()), 1)})
        return metrics

    def _step(self, name: str, loss: torch.Tensor) -> float:
        optimizer = self.optimizers[name]
        optimizer.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.networks[name].parameters(),
                                        self.config.max_grad_norm)
        optimizer.step()
        return float(norm)

    def _actor_critic_step(self) -> dict[str, float]:
        batch: dict[str, torch.Tensor] = {}
        for key, value in self.rollout.items():
            per_agent = np.swapaxes(value, 0, 1)  # [A, T, ...]
            if key in ("states", "next_states"):
                per_agent = self._normalize(per_agent)
            batch[key] = self._group(np.ascontiguousarray(per_agent, dtype=np.float32))
        if self.config.credit_lookahead:
            train = np.zeros((self.n_agents, self.rollout_size), np.float32)
            train[:, :self.config.rollout_steps] = 1.0
            batch["train"] = self._group(train)
        losses = actor_critic_losses(self.actor, self.critic, batch, self.action_dim, self.config)
        critic_norm = self._step("critic", losses["critic_loss"])
        actor_norm = self._step("actor", losses["actor_loss"])
        self.updates += 1
        return {"critic_loss": float(losses["critic_loss"].detach()),
                "actor_loss": float(losses["actor_loss"].detach()),
                "td_error_abs": float(losses["delta"].abs().mean()),
                "rho": float(losses["rho"]), "entropy": float(losses["entropy"]),
                "critic_grad_norm": critic_norm, "actor_grad_norm": actor_norm}

    def _average_policy_step(self) -> dict[str, float]:
        self.sl_updates += 1
        filled = self.reservoir.filled
        if not np.any(filled >= self.config.sl_min):
            return {}
        inputs, targets, filled = self.reservoir.sample(self.config.sl_batch, self.rng)
        weights = np.broadcast_to((filled >= self.config.sl_min)[:, None].astype(np.float32),
                                  inputs.shape[:2])
        loss = average_policy_loss(self.average, self._group(self._normalize(inputs)),
                                   self._group(targets), self._group(np.ascontiguousarray(weights)),
                                   self.action_dim, self.config.min_scale)
        norm = self._step("average", loss)
        return {"sl_loss": float(loss.detach()), "sl_grad_norm": norm}

    def end_episode(self) -> None:
        """Clear the history window and the info-derived mask (the next episode starts afresh);
        the rollout, R̄, the decision counts and the reservoirs carry over."""
        self.history[:] = 0.0
        self.eval_history[:] = 0.0
        self._info_mask = None
        self._pending = None

    def reset_evaluation(self) -> None:
        """Clear the window of ``act(explore=False)`` (call between evaluation episodes)."""
        self.eval_history[:] = 0.0

    # ------------------------------------------------------------------ warm start
    def imitate(self, env: Any, policy: Any, steps: int, seed: int, epochs: int = 30,
                batch_size: int = 128, lr: float = 1e-3) -> dict[str, float]:
        """Behaviour-cloning warm start [ours; not in paper 000]: play ``policy`` (anything with
        ``act(observations, explore=False)``, e.g. a scripted baseline) on ``env`` for ``steps``
        steps from ``reset(seed=seed)``, then fit the means of ζ (on the history windows) and ψ
        (on the current observation) to its actions on the decision steps (least squares in the
        latent space of :meth:`to_latent`), ``epochs`` passes of ``batch_size`` rows per agent
        with their own Adam (``lr``; the RL optimizers' states are left as they were). The scale
        heads are not fitted, so exploration around the clone keeps ``init_scale``. The
        observation normalizer is updated with the demonstration's observations first (the clone
        reads them as the RL steps will). Returns the latent mean-squared errors of both means
        before and after. Call it before training; the decision counts, ``R̄`` and the reservoirs
        are untouched."""
        if steps < 1 or epochs < 1 or batch_size < 1:
            raise ValueError(f"imitate needs steps, epochs and batch_size >= 1; got {steps}, "
                             f"{epochs}, {batch_size}")
        observations, _ = env.reset(seed=seed)
        saved_mask = self._info_mask
        self._info_mask = None  # the first step of an episode counts as a decision
        stream, latents, masks = [], [], []
        for _ in range(int(steps)):
            if not env.agents:
                break
            obs = self._stack(observations)
            masks.append(self.decision_mask(observations))
            actions = policy.act(observations, explore=False)
            stream.append(obs)
            latents.append(self.to_latent(np.stack(
                [np.asarray(actions[a], np.float64).reshape(-1) for a in self.agents])))
            observations, _, _, _, infos = env.step(actions)
            self._read_info_mask(infos)
        self._info_mask = saved_mask
        obs_stream = np.stack(stream)  # [T, A, F]
        targets = np.stack(latents).astype(np.float32)  # [T, A, d]
        decided = np.stack(masks)  # [T, A]
        if not decided.any():
            raise ValueError("imitate: the policy took no decision in the demonstration")
        if self.config.normalize_observations:
            for row in obs_stream:
                self.obs_moments.update(row)
        h = self.config.history
        # windows start as act()'s do: raw zeros before the first observation, then normalized
        padded = self._normalize(np.concatenate(
            [np.zeros((h - 1, *obs_stream.shape[1:]), np.float32), obs_stream]))
        normalized = padded[h - 1:]
        offsets = np.arange(h)
        rows_of = [np.flatnonzero(decided[:, a]) for a in range(self.n_agents)]
        rng = np.random.default_rng(seed)
        optimizers = {"actor": torch.optim.Adam(self.actor.parameters(), lr=lr),
                      "average": torch.optim.Adam(self.average.parameters(), lr=lr)}
        agent_index = np.arange(self.n_agents)[:, None]

        def batch(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            # per agent `size` of its decision steps (an agent without any is weighted 0)
            picks = np.stack([rng.choice(r, size) if r.size else np.zeros(size, np.int64)
                              for r in rows_of])  # [A, n]
            weight = np.array([float(r.size > 0) for r in rows_of], np.float32)[:, None]
            windows = padded[picks[..., None] + offsets, agent_index[..., None]]  # [A, n, h, F]
            return (self._group(np.ascontiguousarray(windows)),
                    self._group(np.ascontiguousarray(normalized[picks, agent_index])),
                    self._group(np.ascontiguousarray(targets[picks, agent_index])),
                    self._group(np.ascontiguousarray(np.broadcast_to(weight, picks.shape))))

        def losses(windows: torch.Tensor, current: torch.Tensor, target: torch.Tensor,
                   weight: torch.Tensor) -> dict[str, torch.Tensor]:
            d, ms = self.action_dim, self.config.min_scale
            out = {}
            for name, network, inputs in (("actor", self.actor, windows),
                                          ("average", self.average, current)):
                mean, _ = gaussian_from_output(network(inputs), d, ms)
                error = ((mean - target) ** 2).sum(-1)
                out[name] = (weight * error).sum() / weight.sum().clamp(min=1.0)
            return out

        def measure() -> dict[str, float]:
            with torch.no_grad():
                return {k: float(v) for k, v in losses(*batch(4 * batch_size)).items()}

        before = measure()
        decisions = max(int(max(r.size for r in rows_of)), 1)
        for _ in range(int(epochs) * max(decisions // batch_size, 1)):
            for name, loss in losses(*batch(batch_size)).items():
                optimizer = optimizers[name]
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.networks[name].parameters(),
                                         self.config.max_grad_norm)
                optimizer.step()
        after = measure()
        return {"steps": float(len(stream)), "decisions": float(decided.sum()),
                **{f"{k}_mse_before": v for k, v in before.items()},
                **{f"{k}_mse_after": v for k, v in after.items()}}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        def tensors(module: nn.Module) -> dict[str, np.ndarray]:
            return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}

        def adam(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
            state = optimizer.state_dict()["state"]
            return {str(i): {k: (np.asarray(float(v)) if k == "step" else v.numpy().copy())
                             for k, v in entry.items()} for i, entry in state.items()}

        return {
            "format": "draco-1", "agents": list(self.agents), "config": self.config.to_dict(),
            "networks": {name: tensors(net) for name, net in self.networks.items()},
            "optimizers": {name: adam(opt) for name, opt in self.optimizers.items()},
            "rng": rng_state(self.rng),
            "obs_moments": self.obs_moments.state_dict(),
            "reward_moments": self.reward_moments.state_dict(),
            "rbar": self.rbar.copy(), "decisions": self.decisions.copy(),
            "reservoir": self.reservoir.state_dict(),
            "rollout": {k: v.copy() for k, v in self.rollout.items()},
            "rollout_size": self.rollout_size,
            "history": self.history.copy(), "eval_history": self.eval_history.copy(),
            "info_mask": None if self._info_mask is None else self._info_mask.astype(np.int8),
            "counters": {"env_steps": self.env_steps, "updates": self.updates,
                         "sl_updates": self.sl_updates, "br_played": self.br_played},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("format") != "draco-1":
            raise ValueError(f"not a DRACO checkpoint (format {state.get('format')!r})")
        if list(state["agents"]) != self.agents:
            raise ValueError(f"checkpoint is for agents {state['agents']}, not {self.agents}")
        saved = DRACOConfig.from_dict(state["config"])
        if replace(saved, seed=self.config.seed) != self.config:  # the seed comes from the file
            changed = {k: (v, getattr(self.config, k)) for k, v in asdict(saved).items()
                       if getattr(self.config, k) != v and k != "seed"}
            raise ValueError(f"checkpoint config differs (saved, this learner): {changed}")
        self.config = saved
        for name, net in self.networks.items():
            net.load_state_dict({k: torch.as_tensor(np.array(v))
                                 for k, v in state["networks"][name].items()})
        for name, optimizer in self.optimizers.items():
            groups = optimizer.state_dict()["param_groups"]
            entries = {int(i): {k: torch.tensor(float(v)) if k == "step"
                                else torch.as_tensor(np.array(v)) for k, v in entry.items()}
                       for i, entry in state["optimizers"][name].items()}
            optimizer.load_state_dict({"state": entries, "param_groups": groups})
        self.rng = restore_rng(state["rng"])
        self.obs_moments.load_state_dict(state["obs_moments"])
        self.reward_moments.load_state_dict(state["reward_moments"])
        self.rbar = np.array(state["rbar"], dtype=np.float64)
        self.decisions = np.array(state["decisions"], dtype=np.int64)
        self.reservoir.load_state_dict(state["reservoir"])
        self.rollout = {k: np.array(v, dtype=np.float32) for k, v in state["rollout"].items()}
        self.rollout_size = int(state["rollout_size"])
        self.history = np.array(state["history"], dtype=np.float32)
        self.eval_history = np.array(state["eval_history"], dtype=np.float32)
        mask = state["info_mask"]
        self._info_mask = None if mask is None else np.array(mask, dtype=bool)
        counters = state["counters"]
        self.env_steps, self.updates = int(counters["env_steps"]), int(counters["updates"])
        self.sl_updates, self.br_played = int(counters["sl_updates"]), int(counters["br_played"])
        self._pending = None

    def save(self, path: str | os.PathLike[str]) -> None:
        save_state(path, self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        self.load_state_dict(load_state(path))


def _resolve_mask(env: Any, agents: Sequence[str], mask_fn: MaskFn | None
                  ) -> tuple[MaskFn | None, str]:
    """The decision flag's source (module docstring, Masking): a function, or None for infos."""
    if mask_fn is not None:
        return mask_fn, "mask_fn"
    base = getattr(env, "unwrapped", env)
    layouts: dict[str, Any] = {}
    for agent in agents:
        layout = None
        if callable(getattr(base, "layout_of", None)):
            layout = base.layout_of(agent)
        elif getattr(base, "layout", None) is not None:
            layout = base.layout
        if layout is None or "needs_action" not in layout:
            break
        layouts[agent] = layout
    if len(layouts) == len(agents):
        def from_layout(agent: str, observation: np.ndarray) -> bool:
            return bool(np.asarray(layouts[agent].get(observation, "needs_action")) > 0.5)

        return from_layout, "layout"
    return None, "infos"  # infos["needs_action"] when the env writes it, else every step


__all__ = ["DRACOConfig", "DRACOLearner", "RunningMoments", "actor_critic_losses",
           "average_policy_loss"]
