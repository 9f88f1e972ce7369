"""MF-AC (Yang et al. 2018, Algorithm 2): a categorical actor with a mean-field critic.

* **Actor** ``pi_theta(a | o_i)`` (paper: the mean field enters the critic only): logits per head;
  exploring samples the categorical, greedy play takes the argmax.
* **Critic** ``Q_phi(o_i, a, a-bar_i)``, one value per level (and head), with a target network
  (Polyak ``tau``). Target (paper eq. (9) with ``v^MF = sum_a pi(a | o') Q^-(o', a, a-bar')``):
  ``y = s r + gamma (1 - terminated) sum_a pi_theta(a | o') Q^-(o', a, a-bar')``.
* **Actor loss**: the policy gradient of the paper, ``grad log pi(a | o) Q(o, a, a-bar)``, in its
  all-actions form for discrete actions (exact expectation over the actor's levels instead of one
  sampled level, LEARNERS §3.4): ``-sum_a pi(a | o) A(o, a)`` with the advantage
  ``A = Q(o, a, a-bar) - sum_a' pi(a' | o) Q(o, a', a-bar)`` (critic detached), minus
  ``entropy_coef`` times the entropy. Gradients are clipped to ``max_grad_norm`` (mlii/mfrl builds
  a clipped op and then overwrites it, LEARNERS §3.1; here the clip is applied).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from agents.maddpg.maddpg import clip_and_step, mlp
from agents.mean_field.common import DiscreteMeanFieldLearner, frozen_copy


class MFAC(DiscreteMeanFieldLearner):
    """Mean-field actor-critic for a group of agents with discrete actions (a joint ``Learner``)."""

    ALGORITHM = "MF-AC"

    def _build(self) -> None:
        self._setup_heads()
        cfg = self.config
        outputs = self.heads * self.levels
        self.actor = mlp(self.obs_size, outputs, cfg.hidden_sizes)
        self.critic = mlp(self.obs_size + self.mf_input, outputs, cfg.hidden_sizes)
        self.target_critic = frozen_copy(self.critic)
        self.actor_parameters = list(self.actor.parameters())
        self.critic_parameters = list(self.critic.parameters())
        self.actor_optimizer = torch.optim.Adam(self.actor_parameters, lr=cfg.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic_parameters, lr=cfg.lr)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs).view(-1, self.heads, self.levels)

    def q_values(self, obs: torch.Tensor, mf: torch.Tensor, target: bool = False) -> torch.Tensor:
        network = self.target_critic if target else self.critic
        return network(self._net_input(obs, mf)).view(-1, self.heads, self.levels)

    def _policy(self, obs: torch.Tensor, mf: torch.Tensor, explore: bool) -> np.ndarray:
        logits = self.logits(obs).double()
        if not explore:
            return logits.argmax(dim=-1).numpy()
        return self._sample_heads(torch.softmax(logits, dim=-1).numpy())

    def _gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.config
        mf = self._mf_tensor(batch["mean_field"])
        with torch.no_grad():
            next_policy = torch.softmax(self.logits(batch["next_obs"]), dim=-1)
            next_value = (next_policy * self.q_values(batch["next_obs"], mf, target=True)).sum(-1)
            target = self._target_value(batch["reward"], batch["terminated"],
                                         next_value).expand(-1, self.heads)
        q = self.q_values(batch["obs"], mf)
        taken = q.gather(-1, batch["action"].long().unsqueeze(-1)).squeeze(-1)
        critic_loss = F.mse_loss(taken, target)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        critic_norm = clip_and_step(self.critic_optimizer, self.critic_parameters,
                                    cfg.max_grad_norm)

        log_policy = torch.log_softmax(self.logits(batch["obs"]), dim=-1)
        policy = log_policy.exp()
        q_detached = q.detach()
        advantage = q_detached - (policy.detach() * q_detached).sum(-1, keepdim=True)
        entropy = -(policy * log_policy).sum(-1).mean()
        actor_loss = -(policy * advantage).sum(-1).mean() - cfg.entropy_coef * entropy
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        actor_norm = clip_and_step(self.actor_optimizer, self.actor_parameters, cfg.max_grad_norm)
        self._soft_update([(self.target_critic, self.critic)])
        return {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach()),
                "entropy": float(entropy.detach()), "q_taken_mean": float(taken.detach().mean()),
                "critic_grad_norm": critic_norm, "actor_grad_norm": actor_norm}

    def _modules(self) -> dict[str, Any]:
        return {"actor": self.actor, "critic": self.critic, "target_critic": self.target_critic}

    def _optimizers(self) -> dict[str, Any]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}
