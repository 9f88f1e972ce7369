"""MF-Q (Yang et al. 2018, Algorithm 1): mean-field Q-learning with a Boltzmann policy.

* **Q network** ``Q(o_i, ., a-bar_i)``: observation and mean field in, one value per level (and per
  head for ``MultiDiscrete``) out; shared by the group (:mod:`agents.mean_field.common`).
* **Policy** (paper eq. (12)): ``pi(a | o, a-bar) = exp(Q(o, a, a-bar) / T) / sum_a' exp(Q / T)``,
  *sampled* when exploring (mlii/mfrl's ``argmax(softmax(Q / T))`` makes T inert, LEARNERS §1.5);
  greedy play (``explore=False``) takes the argmax. ``T`` anneals linearly from
  ``temperature_start`` to ``temperature_end`` over ``temperature_anneal_steps`` rounds.
* **Target** (paper eqs. (9)-(11)): ``y = s r + gamma (1 - terminated) v^MF(o')``,
  ``v^MF(o') = sum_a pi_T(a | o', a-bar') Q^-(o', a, a-bar')`` with the target network ``Q^-``
  (Polyak ``tau``) and the mean field ``a-bar'`` the learner would act with at ``o'`` (the realised
  one of this round). Loss: mean squared TD error of the taken level, averaged over heads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from agents.maddpg.maddpg import clip_and_step, mlp
from agents.mean_field.common import DiscreteMeanFieldLearner, frozen_copy, linear_schedule


class MFQ(DiscreteMeanFieldLearner):
    """Mean-field Q-learning for a group of agents with discrete actions (a joint ``Learner``)."""

    ALGORITHM = "MF-Q"

    def _build(self) -> None:
        self._setup_heads()
        cfg = self.config
        self.q_network = mlp(self.obs_size + self.mf_input, self.heads * self.levels,
                             cfg.hidden_sizes)
        self.target_q_network = frozen_copy(self.q_network)
        self.q_parameters = list(self.q_network.parameters())
        self.optimizer = torch.optim.Adam(self.q_parameters, lr=cfg.lr)

    def temperature(self) -> float:
        """The Boltzmann temperature now (linear anneal per round, then constant)."""
        cfg = self.config
        return linear_schedule(self.env_steps, cfg.temperature_start, cfg.temperature_end,
                               cfg.temperature_anneal_steps)

    def q_values(self, obs: torch.Tensor, mf: torch.Tensor, target: bool = False) -> torch.Tensor:
        """``[B, heads, levels]`` Q values."""
        network = self.target_q_network if target else self.q_network
        return network(self._net_input(obs, mf)).view(-1, self.heads, self.levels)

    def _policy(self, obs: torch.Tensor, mf: torch.Tensor, explore: bool) -> np.ndarray:
        q = self.q_values(obs, mf).double()
        if not explore:
            return q.argmax(dim=-1).numpy()
        probabilities = torch.softmax(q / self.temperature(), dim=-1).numpy()
        return self._sample_heads(probabilities)

    def _gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.config
        mf = self._mf_tensor(batch["mean_field"])
        with torch.no_grad():
            next_q = self.q_values(batch["next_obs"], mf, target=True)
            next_value = (torch.softmax(next_q / self.temperature(), dim=-1) * next_q).sum(-1)
            target = self._target_value(batch["reward"], batch["terminated"],
                                         next_value).expand(-1, self.heads)
        q = self.q_values(batch["obs"], mf)
        taken = q.gather(-1, batch["action"].long().unsqueeze(-1)).squeeze(-1)
        loss = F.mse_loss(taken, target)
        self.optimizer.zero_grad()
        loss.backward()
        grad_norm = clip_and_step(self.optimizer, self.q_parameters, cfg.max_grad_norm)
        self._soft_update([(self.target_q_network, self.q_network)])
        return {"q_loss": float(loss.detach()), "q_taken_mean": float(taken.detach().mean()),
                "target_mean": float(target.detach().mean()), "grad_norm": grad_norm,
                "temperature": self.temperature()}

    def _modules(self) -> dict[str, Any]:
        return {"q": self.q_network, "target_q": self.target_q_network}

    def _optimizers(self) -> dict[str, Any]:
        return {"q": self.optimizer}
