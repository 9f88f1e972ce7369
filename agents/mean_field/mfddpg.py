"""A deterministic mean-field actor-critic for continuous actions ("MF-DDPG", LEARNERS §3.4).

* **Actor** ``mu_theta(o_i) = tanh(f(o_i))`` in ``[-1, 1]`` per dimension, rescaled to the Box by
  :class:`agents.maddpg.ActionScaler` (the one place where learner units meet env units);
  exploring adds ``N(0, sigma_t^2)`` in those units and clips (``sigma_t`` annealed linearly).
* **Critic** ``Q_phi(o_i, a_i, a-bar_i)`` with ``a-bar_i`` the soft histogram of the others'
  actions of the round (:func:`agents.mean_field.features.soft_histogram`, ``histogram_bins``
  points over ``[-1, 1]``); target networks for actor and critic (Polyak ``tau``).
* **Target** ``y = s r + gamma (1 - terminated) Q'(o', mu'(o'), a-bar')`` (``a-bar'`` the acting
  estimate at ``o'``, i.e. the realised mean field of the round); ``gamma = 0`` is ``y = s r``.
* **Actor loss** ``-mean Q_phi(o, mu_theta(o), a-bar) + actor_reg mean(z^2)`` holding ``a-bar`` at
  its realised value (the mean-field analogue of taking the others' actions from the buffer).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch.nn import functional as F

from agents.maddpg.maddpg import ActionScaler, clip_and_step, mlp
from agents.mean_field.common import MeanFieldLearner, frozen_copy, linear_schedule


class MFDDPG(MeanFieldLearner):
    """Deterministic mean-field actor-critic for a group of agents with Box actions."""

    ALGORITHM = "MF-DDPG"
    ACTION_KINDS = (spaces.Box,)

    def _build(self) -> None:
        cfg = self.config
        self.scaler = ActionScaler(self.action_space, self.agents[0])
        self.action_size = int(np.prod(self.action_space.shape))
        self.actor = mlp(self.obs_size, self.action_size, cfg.hidden_sizes)
        self.critic = mlp(self.obs_size + self.action_size + self.mf_input, 1, cfg.hidden_sizes)
        self.target_actor = frozen_copy(self.actor)
        self.target_critic = frozen_copy(self.critic)
        self.actor_parameters = list(self.actor.parameters())
        self.critic_parameters = list(self.critic.parameters())
        self.actor_optimizer = torch.optim.Adam(self.actor_parameters, lr=cfg.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic_parameters, lr=cfg.lr)

    def noise_sigma(self) -> float:
        cfg = self.config
        return linear_schedule(self.env_steps, cfg.noise_start, cfg.noise_end,
                               cfg.noise_anneal_steps)

    def q_value(self, obs: torch.Tensor, action: torch.Tensor, mf: torch.Tensor,
                target: bool = False) -> torch.Tensor:
        network = self.target_critic if target else self.critic
        return network(self._net_input(torch.cat([obs, action], dim=-1), mf)).squeeze(-1)

    def _policy(self, obs: torch.Tensor, mf: torch.Tensor, explore: bool) -> np.ndarray:
        unit = torch.tanh(self.actor(obs)).double().numpy()
        if explore:
            unit = np.clip(unit + self.noise_sigma() * self.rng.standard_normal(unit.shape),
                           -1.0, 1.0)
        return unit

    def _to_env(self, action: np.ndarray) -> Any:
        return self.scaler.to_env(action)

    def _to_learner(self, action: Any) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.size != self.action_size or not np.all(np.isfinite(action)):
            raise ValueError(f"{self.ALGORITHM}: action {action!r} is not in {self.action_space}")
        return self.scaler.to_unit(action)

    def _gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.config
        mf = self._mf_tensor(batch["mean_field"])
        reward, terminated = batch["reward"].squeeze(-1), batch["terminated"].squeeze(-1)
        with torch.no_grad():
            next_value = None
            if cfg.gamma > 0:
                next_action = torch.tanh(self.target_actor(batch["next_obs"]))
                next_value = self.q_value(batch["next_obs"], next_action, mf, target=True)
            target = self._target_value(reward, terminated, next_value)
        q = self.q_value(batch["obs"], batch["action"], mf)
        critic_loss = F.mse_loss(q, target)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        critic_norm = clip_and_step(self.critic_optimizer, self.critic_parameters,
                                    cfg.max_grad_norm)

        pre_tanh = self.actor(batch["obs"])
        actor_loss = -self.q_value(batch["obs"], torch.tanh(pre_tanh), mf).mean() \
            + cfg.actor_reg * (pre_tanh ** 2).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        actor_norm = clip_and_step(self.actor_optimizer, self.actor_parameters, cfg.max_grad_norm)
        self._soft_update([(self.target_critic, self.critic), (self.target_actor, self.actor)])
        return {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach()),
                "q_mean": float(q.detach().mean()), "critic_grad_norm": critic_norm,
                "actor_grad_norm": actor_norm, "noise_sigma": self.noise_sigma()}

    def _modules(self) -> dict[str, Any]:
        return {"actor": self.actor, "critic": self.critic, "target_actor": self.target_actor,
                "target_critic": self.target_critic}

    def _optimizers(self) -> dict[str, Any]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}
