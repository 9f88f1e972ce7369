"""IoV resource slicing with the dual-currency VCG auction and a bank (paper 002, MARKETS §3).

The PettingZoo shell (arguments, spaces, dicts, infos, metrics) over :class:`IoVCore`; the clearing
rules are in :mod:`auction_envs.envs.iov.clearing`, the observation layouts in ``layouts.py`` (the
docstring's tables are generated from them), the joint-action check in ``actions.py``, the
colluders check in ``arguments.py``. Above 400 lines only because of the class docstring (the env's
documentation, with its two observation tables, about 160 lines); the code is about 350 lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from auction_envs.core import MarketEnv, ObservationLayout, float32_box
from auction_envs.core.checks import (
    MAX_AGENTS,
    MAX_SCALE,
    check_choice,
    check_int,
    check_optional,
    check_range_pair,
    check_real,
)
from auction_envs.core.errors import InvalidArgumentError
from auction_envs.envs.iov.actions import JointActions, fast_joint_actions
from auction_envs.envs.iov.arguments import check_colluders
from auction_envs.envs.iov.clearing import DVCG, QVCG, VCG, Mechanism
from auction_envs.envs.iov.core import SLICE_LEVELS, SLICER_ACTIONS, IoVCore, K, MarketConfig
from auction_envs.envs.iov.layouts import VSP_LAYOUT, packing_column, slicer_layout
from auction_envs.mechanisms.vcg import PERTURBATION_SCALES

MECHANISMS = ("dvcg", "qvcg", "vcg")
TAXES = ("dvcg", "nvi")
ALLOCATORS = ("optimum", "learned")
REWARDS = ("bids", "welfare")
ESTIMATORS = ("exact", "noisy")
REFERENCES = ("optimum", "allocation")
#: the per-VSP infos besides ``allocation``, in order
VSP_INFO_KEYS = ("bid", "truthful_bid", "loan", "externality", "interest", "tax", "payment",
                 "profit", "utility")
#: re-exported: the layouts live in ``layouts.py``
__all__ = ["ALLOCATORS", "ESTIMATORS", "MECHANISMS", "REFERENCES", "REWARDS", "TAXES",
           "VSP_INFO_KEYS", "VSP_LAYOUT", "IoVSlicingEnv", "slicer_layout"]

class IoVSlicingEnv(MarketEnv):
    """Network slicing for vehicle service providers (VSPs), sold by a VCG-type auction.

    ## Description
    ``n_vsps`` VSPs share three normalized resources (bandwidth, compute, cache; ``sum_i s_ik <= 1``)
    of one network provider (NSP). VSP ``i``'s utility is ``u_i(s) = beta_i (1 - exp(-xi_i . s))``
    (``beta_i ~ U(100, 200)``, ``xi_ik ~ U(0, 10)``, paper (39)); its gross profit is
    ``G_i = alpha_i U_i + w_i`` (paper (5)). The market (beta, xi, alpha) is drawn at every
    ``reset`` from the env's generator, or, with ``instance_seed``, from a generator seeded with
    it: the same market every episode, as in the paper's training (the slicers never observe xi).

    ## Mechanism (``mechanism="dvcg"``, paper (12)-(20))
    Each round: (1) the bank issues the pool ``F_P = sum_i f_i`` (its value-of-information
    estimates); (2) VSPs bid ``x_i`` in VC and borrow ``K_i = F_P x_i / sum_j x_j``; (3) the NSP
    allocates ``s*`` (the exact optimum under the bank's ``theta-hat``, or the slicing agents'
    allocation with ``allocator="learned"``) and perturbs it, ``s~ = norm(s* + Delta eps)`` with
    ``eps ~ N(0, I)`` drawn every round (common random numbers) (15); (4) externality
    ``I_i = SW*_{-i} - sum_{j!=i} u_j(s~_j; theta-hat)`` (17) and tax
    ``Z_i = alpha-hat_i (I_i + |K_i - U*_i|)`` (18) (``tax="nvi"``: no interest term);
    (5) profit ``P_i = alpha_i u_i(s~_i) + w_i - Z_i``; the bank appends the bill and re-estimates
    (``auction_envs.envs.iov.bank``). The rules are objects in ``auction_envs.envs.iov.clearing``.

    ``Delta`` (16), ``perturbation_scale`` [decision; the paper adds utility units to shares]:
    ``"relative"`` (default) ``Delta = max(sum_i x_i - SW*, 0) / (N sum_i x_i)``, a share, at
    most the uniform share ``1/N``; ``"literal"``: ``max(sum_i x_i - SW*, 0) / N`` as printed,
    in utility units: a 1% welfare gap at N = 10 gives a noise of about 1.4 shares, which
    scrambles every allocation that is not optimal (efficiency about 0.68 whatever the slicers
    do). Both are 0 when ``sum_i x_i <= SW*``: truthful DVCG with the exact allocator is never
    perturbed. ``perturbation_reference`` [decision]: ``SW*`` is the optimum of (14) under the
    bank's theta-hat (``"optimum"``, default: (14) defines ``SW*`` as the optimum, and the bank
    solves it anyway for the pivots of (17)), or the welfare of the slicers' allocation
    (``"allocation"``, v0). They differ only with ``allocator="learned"``: under
    ``"allocation"`` truthful bidders perturb every sub-optimal allocation, and the perturbed
    allocation is the slicers' next state. ``norm`` [decision]: negative shares are clipped to
    0, then every resource whose total exceeds 1 is divided by its total.

    ``mechanism="vcg"``: plain VCG with full information; ``mechanism="qvcg"``: QVCG (Ge & Berry)
    with quantization ``M``. In both, the bid is a report of the utility function scaled by
    ``x_i / x*_i`` (``x*_i = u_i(s*_i)``, the truthful bid; scale 1 for a VSP with ``x*_i = 0``)
    [decision: one scalar per VSP keeps one action space for every mechanism]; the Clarke payment
    ``p_i`` (in utility units) is charged at the VSP's own rate:
    ``P_i = alpha_i (u_i(s_i) - p_i) + w_i`` [decision: the paper's QVCG bidders know alpha].
    QVCG reports are exchanged once (paper §VI): the first round's bids fix the reports for the
    episode; later bid actions are ignored (``needs_action = 0``). The first QVCG round of an
    episode solves the integer program by dynamic programming over the 21^3 grid (N = 10,
    M = 20: 3.8 s compiled with numba, 55 s with the numpy fallback, measured side by side on a
    loaded 2-core machine); the outcome is cached by the reports (256 entries), so with a fixed
    ``instance_seed`` and the same first bids only the first episode pays it.

    ## Incentives
    With an unbiased bank and the others truthful, no unilateral bid earns more than the
    truthful ``x*_i`` in expectation (DSIC against truthful others; ``expected_profits``,
    ``benchmarks.iov_incentives``). Truthful bidding is *not* dominant: the loans depend on the
    bids only through ``x_i / sum_j x_j``, and any bids ``c x*`` with ``c <= 1`` are never
    perturbed, so every common scaling ``c x*`` (``c <= 1``) earns exactly the truthful profits.

    ## Agents and Action Space
    * ``vsp_i``: ``Box(0, bid_high, (1,), float32)``, the bid in VC (``bid_high = 2 beta_high``).
    * ``slicer_i`` (only ``allocator="learned"``): ``MultiDiscrete([7, 7, 7])``, the relative change
      of VSP ``i``'s slice per resource, levels ``[-0.3, ..., 0.3]`` (index 3 = no change),
      applied multiplicatively to the last slice (paper §V), then ``slicer_action``:
      ``"capped"`` (default): every resource whose total exceeds 1 is divided by its total (the
      paper's "the total does not exceed the physical limit"): a common decrease frees capacity,
      a common increase fills free capacity, so a parameter-shared policy is not cancelled (only
      a common increase of a full resource is); ``"renormalize"`` (v0): every resource divided
      by its total, which cancels any common change. Slices never fall below 1e-6 (so they can
      grow back).

    ## Observation Space
    ``vsp_i``: ``Box(float32, (13,))``, the last round as seen by VSP ``i``
    (``env.unwrapped.layouts["vsp"]``; all zeros after reset except ``voi``, ``pool``,
    ``alpha_hat`` and ``needs_action``):

    {vsp_table}

    ``slicer_i``: ``Box(float32, (33,))`` (``env.unwrapped.layouts["slicer"]``; scales shown for
    the defaults, ``beta_high = 200``, N = 10). ``others_slice`` is the paper's actor input; with
    every resource fully used it equals ``(1 - slice) / (N - 1)`` and tells nothing new.
    ``others_mean_action`` (the mean field of (28)) and ``vsp_bid``, ``vsp_utility``, ``vsp_id``
    (what tells a slicer's VSP apart) are zeros until the first round has been played:

    {slicer_table}

    ``env.unwrapped.layout_of(agent)`` gives an agent's layout; fields are read by name.

    ## Rewards
    ``vsp_i``: its profit ``P_i`` in money units (VSPs in ``colluders`` all receive the
    coalition's total); per VSP of order ``alpha_i u_i`` minus tax, i.e. tens to about 150.
    ``slicer_i`` (identical for every slicer): ``slicer_reward="welfare"`` (default): the true
    welfare ``sum_i u_i(s~_i)`` of the perturbed allocation, in utility units (the optimum is
    about 1000-1500 at N = 10 and grows with N; ``metrics()["optimal_welfare"]`` normalizes it);
    ``"bids"``: ``sum_i x_i`` (paper (27)). The bids reward carries no signal about the
    allocation when the bidders bid a fixed (e.g. the equilibrium) bid, reward standard deviation
    0, and lags one round with bidders who react to their last utility, so the welfare reward is
    the default. ``reward_scale(agent)``: ``beta_high`` for a VSP, ``N beta_high`` for a slicer.

    ## Infos
    Per ``vsp_i``: ``bid``, ``truthful_bid`` (``u_i(s*_i)`` with the true theta at the true
    optimum), ``loan``, ``externality``, ``interest``, ``tax``, ``payment`` (vcg/qvcg),
    ``profit``, ``utility``, ``allocation`` (3,). Per ``slicer_i``: ``allocation``, ``welfare``.
    After ``reset`` the same keys with zeros (``truthful_bid`` already holds its value), so
    wrappers (TorchRL) can build their specs from them.

    ## Starting State
    Values, alpha and the bank's priors are drawn at reset; slices start uniform ``1/N``.

    ## Episode End
    Truncation after ``max_cycles`` rounds (500, the paper's evaluation). Never terminates.

    ## Reference solution
    ``equilibrium()`` returns the truthful bids ``x*_i = u_i(s*_i)`` (a best reply to truthful
    others under DVCG with an unbiased bank; see Incentives) and the exact optimum
    (``auction_envs.oracles.slicing``). ``metrics()``: welfare, efficiency against the optimum,
    profits, taxes, loans, information exchanged per round (floats), ``bid_deviation``
    (``x_i / x*_i - 1``, 0 where ``x*_i = 0``), and :meth:`bidder_nash_conv` on request.

    ## Arguments
    * ``n_vsps`` (10; at most ``core.checks.MAX_AGENTS``, checked for speed up to 50),
      ``mechanism`` ("dvcg" | "vcg" | "qvcg"),
      ``tax`` ("dvcg" | "nvi"), ``allocator`` ("optimum" | "learned"), ``slicer_reward``
      ("welfare" | "bids"), ``slicer_action`` ("capped" | "renormalize"), ``perturbation_scale``
      ("relative" | "literal"), ``perturbation_reference`` ("optimum" | "allocation"), ``M``
      (20, 1..100; QVCG quantization), ``colluders`` (a set of VSP indices sharing their reward;
      empty), ``instance_seed`` (None, or an integer >= 0 fixing the market across episodes).
    * ``beta_range`` ((100, 200), low > 0), ``xi_range`` ((0, 10), high > 0), ``alpha_range``
      ((0.5, 1.5), low > 0): alpha_i ~ U(alpha_range) [decision], ``noise_mean`` (0) and
      ``noise_std`` (5) of ``w_i`` [decision].
    * ``theta_estimator`` ("exact" | "noisy"), ``theta_noise`` (0.2), ``alpha_prior`` (1.0): the
      bank's estimators (``auction_envs.envs.iov.bank``).
    * Every scale (the ranges, ``noise_mean`` in absolute value, ``noise_std``, ``theta_noise``,
      ``alpha_prior``) at most ``core.checks.MAX_SCALE`` (1e9).
    * ``max_cycles`` (500), ``render_mode``, ``action_policy`` (see ``MarketEnv``).

    ## Version History
    * v1: the perturbation scale is a choice, ``"relative"`` by default (v0: the literal eq. (16));
      the ``SW*`` of (16) is the optimum by default (v0: the slicers' allocation's welfare);
      the perturbation noise is drawn every round (v0: only when ``Delta > 0``, so float32
      truthful bids with ``Delta ~ 1e-7`` shifted the generator in about half the rounds);
      ``instance_seed``; the slicers observe the others' last mean action, their VSP's bid,
      utility and id (33 entries; v0: 9); ``slicer_action="capped"`` by default (v0:
      ``"renormalize"``); ``slicer_reward="welfare"`` by default (v0: ``"bids"``; the
      registered ``IoVSlicingLearned`` id follows); a VSP with truthful bid 0 reports
      truthfully under (Q)VCG (v0: 0/0); ``xi_range`` with high 0 and ``M > 100`` are rejected;
      ``metrics()`` and ``state()`` before the first reset raise ``ResetNeededError`` (v0: the
      values of a throw-away market solved at construction); (issue 18, no trajectory change)
      ``reset`` returns the step's info keys with zeros (it returned empty dicts).
      values of a throw-away market solved at construction).
    * v1 (issue 19, no trajectory change): scales above ``MAX_SCALE`` (they gave inf
      observations), ``n_vsps > MAX_AGENTS`` (it ran out of memory) and ``colluders`` that are not
      integer indices (``(0, True)``, ``[1.5]``, ``"01"`` were cast with ``int``; ``inf`` raised
      ``OverflowError``) are rejected with ``InvalidArgumentError``.
    * v0: initial release.
    """

    __doc__ = __doc__.replace("{vsp_table}", VSP_LAYOUT.table().replace("\n", "\n    ")).replace(
        "{slicer_table}", slicer_layout().table().replace("\n", "\n    "))
    metadata: ClassVar[dict[str, Any]] = {**MarketEnv.metadata, "name": "iov_slicing_v1"}

    def __init__(
        self,
        n_vsps: int = 10,
        mechanism: str = "dvcg",
        tax: str = "dvcg",
        allocator: str = "optimum",
        slicer_reward: str = "welfare",
        slicer_action: str = "capped",
        perturbation_scale: str = "relative",
        perturbation_reference: str = "optimum",
        M: int = 20,
        colluders: Any = (),
        instance_seed: int | None = None,
        beta_range: tuple[float, float] = (100.0, 200.0),
        xi_range: tuple[float, float] = (0.0, 10.0),
        alpha_range: tuple[float, float] = (0.5, 1.5),
        noise_mean: float = 0.0,
        noise_std: float = 5.0,
        theta_estimator: str = "exact",
        theta_noise: float = 0.2,
        alpha_prior: float = 1.0,
        max_cycles: int = 500,
        render_mode: str | None = None,
        action_policy: str = "raise",
    ) -> None:
        n = check_int("n_vsps", n_vsps, low=1, high=MAX_AGENTS)
        self.mechanism = check_choice("mechanism", mechanism, MECHANISMS)
        self.tax = check_choice("tax", tax, TAXES)
        self.allocator = check_choice("allocator", allocator, ALLOCATORS)
        if self.allocator == "learned" and self.mechanism != "dvcg":
            raise InvalidArgumentError("allocator", allocator, "'optimum' unless mechanism='dvcg'")
        self.slicer_reward = check_choice("slicer_reward", slicer_reward, REWARDS)
        self.slicer_action = check_choice("slicer_action", slicer_action, SLICER_ACTIONS)
        self.perturbation_scale = check_choice("perturbation_scale", perturbation_scale,
                                               PERTURBATION_SCALES)
        self.perturbation_reference = check_choice("perturbation_reference",
                                                   perturbation_reference, REFERENCES)
        self.M = check_int("M", M, low=1, high=100)  # M^3 grid points per VSP
        self.instance_seed = check_optional("instance_seed", instance_seed, check_int, low=0)
        self.colluders = check_colluders(colluders, n)
        config = MarketConfig(
            n=n,
            beta_range=check_range_pair("beta_range", beta_range, low=1e-300, high=MAX_SCALE),
            xi_range=check_range_pair("xi_range", xi_range, low=0.0, high=MAX_SCALE),  # hi > 0:
            alpha_range=check_range_pair("alpha_range", alpha_range, low=1e-300,  # checked below
                                         high=MAX_SCALE),
            noise_mean=check_real("noise_mean", noise_mean, low=-MAX_SCALE, high=MAX_SCALE),
            noise_std=check_real("noise_std", noise_std, low=0.0, high=MAX_SCALE),
            theta_estimator=check_choice("theta_estimator", theta_estimator, ESTIMATORS),
            theta_noise=check_real("theta_noise", theta_noise, low=0.0, high=MAX_SCALE),
            alpha_prior=check_real("alpha_prior", alpha_prior, low=0.0, low_open=True,
                                   high=MAX_SCALE),
            learned=self.allocator == "learned", slicer_action=self.slicer_action,
            instance_seed=self.instance_seed)
        if config.xi_range[1] <= 0:  # every xi = 0: nothing has value, efficiency is 0 / 0
            raise InvalidArgumentError("xi_range", xi_range, "a pair (lo, hi) with hi > 0")
        self.n_vsps = n
        self.beta_range, self.xi_range = config.beta_range, config.xi_range
        self.alpha_range = config.alpha_range
        self.noise_mean, self.noise_std = config.noise_mean, config.noise_std
        self.theta_estimator, self.theta_noise = config.theta_estimator, config.theta_noise
        self.alpha_prior = config.alpha_prior
        self.vsps = [f"vsp_{i}" for i in range(n)]
        self.slicers = [f"slicer_{i}" for i in range(n)] if self.allocator == "learned" else []
        super().__init__(max_cycles=max_cycles, render_mode=render_mode,
                         action_policy=action_policy, possible_agents=self.vsps + self.slicers)
        self.core = IoVCore(config, self._make_mechanism())
        self.layouts = {"vsp": VSP_LAYOUT, "slicer": slicer_layout(n, self.beta_range[1])}
        self.bid_high = 2.0 * self.beta_range[1]
        obs = {a: VSP_LAYOUT.space() for a in self.vsps}
        obs.update({a: self.layouts["slicer"].space() for a in self.slicers})
        act = {a: spaces.Box(np.float32(0.0), np.float32(self.bid_high), (1,), np.float32)
               for a in self.vsps}
        act.update({a: spaces.MultiDiscrete([len(SLICE_LEVELS)] * K) for a in self.slicers})
        self._set_spaces(obs, act, float32_box(-np.inf, np.inf, (K * n + n + 1,)))
        self._bid_limit = float(np.float32(self.bid_high))
        self._scales = {group: np.concatenate([np.full(f.size, f.scale) for f in layout.fields])
                        for group, layout in self.layouts.items()}
        self._columns = {group: [packing_column(layout, field) for field in layout.fields]
                         for group, layout in self.layouts.items()}
        self._agent_set = frozenset(self.possible_agents)

    def _make_mechanism(self) -> Mechanism:
        if self.mechanism == "vcg":
            return VCG()
        if self.mechanism == "qvcg":
            return QVCG(self.M)
        return DVCG(interest=self.tax == "dvcg", perturbation_scale=self.perturbation_scale,
                    perturbation_reference=self.perturbation_reference)

    def layout_of(self, agent: str) -> ObservationLayout:
        """The observation layout of ``agent`` (``vsp_i`` or ``slicer_i``)."""
        if agent not in self._agent_set:
            raise KeyError(f"no agent {agent!r}; agents: {self.possible_agents}")
        return self.layouts["slicer" if agent.startswith("slicer_") else "vsp"]

    # ------------------------------------------------------------------ single-market views
    @property
    def beta(self) -> np.ndarray:
        self._require_reset("beta")
        return self.core.beta[0]

    @property
    def xi(self) -> np.ndarray:
        self._require_reset("xi")
        return self.core.xi[0]

    @property
    def alpha(self) -> np.ndarray:
        self._require_reset("alpha")
        return self.core.alpha[0]

    @property
    def bank(self) -> Any:
        self._require_reset("bank")
        return self.core.bank

    @property
    def x_truthful(self) -> np.ndarray:
        self._require_reset("x_truthful")
        return self.core.x_truthful[0]

    @property
    def s_true(self) -> np.ndarray:
        self._require_reset("s_true")
        return self.core.s_true[0]

    @property
    def slices(self) -> np.ndarray:
        self._require_reset("slices")
        return self.core.slices[0]

    # ------------------------------------------------------------------ episode
    def reward_scale(self, agent: str) -> float:
        """``beta_high`` for a VSP (the largest value scale; profits are tens to about 150 at the
        defaults) and ``N beta_high`` for a slicer (the welfare's unit)."""
        super().reward_scale(agent)
        beta_high = float(self.beta_range[1])
        return beta_high * (self.n_vsps if agent in self.slicers else 1)

    def _reset_market(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self.core.reset(self.np_random)
        return self._infos(cleared=False)

    def validate_actions(self, actions: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The joint action checked as two arrays (bids, slicer levels); anything unusual takes
        ``MarketEnv.validate_actions``, which names the agent and raises (or clips)."""
        joint = self._fast_joint_actions(actions)
        if joint is None:
            validated = super().validate_actions(actions)
            bids = np.array([validated[a][0] for a in self.vsps])
            levels = np.array([validated[a] for a in self.slicers], dtype=np.int64) \
                if self.slicers else None
            joint = JointActions(validated, bids, levels)
        return joint

    def _fast_joint_actions(self, actions: Any) -> JointActions | None:
        if len(self.agents) != len(self._agent_set):
            return None
        return fast_joint_actions(actions, self._agent_set, self.vsps, self.slicers,
                                  self._bid_limit)

    def _step_market(self, actions: dict[str, np.ndarray]
                     ) -> tuple[list[float], dict[str, dict[str, Any]], bool]:
        joint = actions if isinstance(actions, JointActions) else self.validate_actions(actions)
        core = self.core
        levels = None if joint.levels is None else joint.levels[None]
        profit, slicer_reward = core.step(joint.bids[None], levels, self.np_random,
                                          self.slicer_reward)
        reward = profit[0]
        if self.colluders:
            reward = reward.copy()
            reward[list(self.colluders)] = profit[0, list(self.colluders)].sum()
        # a list of floats aligned with self.agents (every agent is live during a step):
        # MarketEnv.step takes it without a per-agent conversion
        rewards = reward.tolist() + [float(slicer_reward[0])] * len(self.slicers)
        return rewards, self._infos(), False

    def _infos(self, cleared: bool = True) -> dict[str, dict[str, Any]]:
        """Per agent; before the first clearing (``cleared=False``, at reset) the same keys with
        zeros (``truthful_bid`` is known from the start)."""
        core = self.core
        if cleared:
            c = core.last_clearing
            columns = (core.last_bids, core.x_truthful, c.loan, c.externality, c.interest, c.tax,
                       c.payment, core.last_profit, c.utility)  # VSP_INFO_KEYS, each [1, N]
            allocation = c.allocation[0].copy()
        else:
            zeros = np.zeros((1, self.n_vsps))
            columns = (zeros, core.x_truthful, *(zeros,) * 7)
            allocation = np.zeros_like(core.slices[0])
        values = np.concatenate(columns).tolist()  # [9, N] Python floats in one conversion
        # a dict display per VSP is the cheapest build (keys in VSP_INFO_KEYS order)
        infos: dict[str, dict[str, Any]] = {
            agent: {"bid": bid, "truthful_bid": truthful, "loan": loan, "externality": externality,
                    "interest": interest, "tax": tax, "payment": payment, "profit": profit,
                    "utility": utility, "allocation": share}
            for agent, bid, truthful, loan, externality, interest, tax, payment, profit, utility,
            share in zip(self.vsps, *values, allocation)}
        welfare = float(core.last_welfare[0]) if cleared else 0.0
        infos.update({agent: {"allocation": share, "welfare": welfare}
                      for agent, share in zip(self.slicers, allocation)})
        return infos

    # ------------------------------------------------------------------ views
    def _observations(self) -> dict[str, np.ndarray]:
        if not self.agents:
            return {}
        progress = self.num_cycles / self.max_cycles
        rows = list(self._pack("vsp", self.core.vsp_fields(), progress))
        if self.slicers:
            rows += list(self._pack("slicer", self.core.slicer_fields(), progress))
        out = dict(zip(self.possible_agents, rows))
        return out if self.agents == self.possible_agents else {a: out[a] for a in self.agents}

    def _pack(self, group: str, fields: dict[str, np.ndarray], progress: float) -> np.ndarray:
        """The group's observations ``[N, size]`` (float32) from the core's fields of market 0:
        what ``ObservationLayout.pack`` gives (each float64 value divided by its scale, then
        rounded to float32), written column by column into the float32 result."""
        out = np.empty((self.n_vsps, self.layouts[group].size), dtype=np.float32)
        for name, where, scale in self._columns[group]:
            # a [1, ...] field of the one market fills the rows: assignment drops the leading 1
            value = progress if name == "progress" else fields[name]
            out[:, where] = value if scale == 1.0 else value / scale
        return out

    def state(self) -> np.ndarray:
        self._require_reset("state")
        core = self.core
        return np.concatenate([core.slices[0].ravel(), core.last_bids[0],
                               [self.num_cycles / self.max_cycles]]).astype(np.float32)

    def equilibrium(self) -> dict[str, np.ndarray | float]:
        """Truthful bids (DSIC against truthful others, not dominant: see Incentives), the exact
        optimum and its welfare."""
        self._require_reset("equilibrium")
        return {"bids": self.x_truthful.copy(), "allocation": self.s_true.copy(),
                "welfare": float(self.x_truthful.sum())}

    def information_per_round(self) -> float:
        """Floats a VSP-NSP exchange costs per round (paper Table II; see ``mechanisms.vcg``)."""
        return self.core.mechanism.information_per_round(self.n_vsps, self.num_cycles)

    def metrics(self) -> dict[str, Any]:
        self._require_reset("metrics")
        core = self.core
        rounds = self.num_cycles
        optimum = float(self.x_truthful.sum())
        if rounds == 0 or core.last_clearing is None:
            return {"round": 0, "optimal_welfare": optimum}
        c = core.last_clearing
        welfare = float(core.last_welfare[0])
        welfare_sum = float(core.welfare_sum[0])
        return {
            "round": rounds,
            "welfare": welfare,
            "optimal_welfare": optimum,
            "efficiency": welfare / optimum,
            "mean_welfare": welfare_sum / rounds,
            "mean_efficiency": welfare_sum / rounds / optimum,
            "profit": core.last_profit[0].copy(),
            "mean_profit": core.totals["profit"][0] / rounds,
            "tax": c.tax[0].copy(),
            "mean_tax": core.totals["tax"][0] / rounds,
            "loan": c.loan[0].copy(),
            "mean_loan": core.totals["loan"][0] / rounds,
            "delta": float(c.delta[0]),
            "alpha_hat": self.bank.alpha_hat[0].copy(),
            "voi": self.bank.voi()[0].copy(),
            "information_per_round": self.information_per_round(),
            "truthful_bids": self.x_truthful.copy(),
            "bid_deviation": np.divide(core.last_bids[0], self.x_truthful,
                                       out=np.ones(self.n_vsps), where=self.x_truthful > 0) - 1.0,
        }

    def expected_profits(self, bids: np.ndarray, samples: int = 64, seed: int = 0) -> np.ndarray:
        """Expected one-round profit of every VSP for the bid vector ``bids`` under the current
        bank (common random numbers: ``samples`` perturbation draws from ``seed``; ``w`` at its
        mean; the bank's ``theta-hat`` at its unbiased limit, the true theta). The same clearing
        as a round (:meth:`Mechanism.clear`) on a copy of nothing: the env is not changed.
        DVCG with ``allocator="optimum"`` or VCG; used by :meth:`bidder_nash_conv`."""
        self._require_reset("expected_profits")
        if self.mechanism == "qvcg" or self.allocator != "optimum":
            raise NotImplementedError("expected_profits covers dvcg (optimum allocator) and vcg")
        core = self.core
        bids = np.asarray(bids, dtype=np.float64)[None]
        rng = np.random.default_rng(seed)
        theta = (core.beta, core.xi)
        mechanism = core.mechanism
        draws = 1
        if self.mechanism == "dvcg" and bids.sum() > core.w_true[0]:
            draws = samples
        total = np.zeros(self.n_vsps)
        for _ in range(draws):
            clearing = mechanism.clear(core, bids, rng, theta_hat=theta)
            total += (core.alpha * clearing.utility - clearing.tax)[0]
        return total / draws + self.noise_mean

    def bidder_nash_conv(self, bids: np.ndarray | None = None,
                         grid: np.ndarray | None = None, samples: int = 64
                         ) -> dict[str, Any]:
        """NashConv of the bidders over a bid grid: ``sum_i max_{g} E P_i(g x*_i, x_{-i}) -
        E P_i(x)`` with bids ``g x*_i`` for ``g`` in ``grid`` (multiples of the truthful bid).
        ``bids`` default to the last round's. Returns the total and each VSP's best gain."""
        self._require_reset("bidder_nash_conv")
        if bids is None:
            bids = self.core.last_bids[0] if self.core.last_clearing is not None \
                else self.x_truthful
        bids = np.asarray(bids, dtype=np.float64)
        grid = np.linspace(0.5, 1.5, 11) if grid is None else np.asarray(grid)
        base = self.expected_profits(bids, samples)
        gains = np.zeros(self.n_vsps)
        for i in range(self.n_vsps):
            best = base[i]
            for g in grid:
                trial = np.array(bids, dtype=np.float64)
                trial[i] = g * self.x_truthful[i]
                best = max(best, self.expected_profits(trial, samples)[i])
            gains[i] = best - base[i]
        return {"nash_conv": float(gains.sum()), "gains": gains}

    def _render_text(self) -> str:
        lines = [f"IoVSlicing[{self.mechanism}/{self.tax}] round {self.num_cycles}/"
                 f"{self.max_cycles}"]
        if getattr(self, "_has_reset", False) and self.core.last_clearing is not None:
            m = self.metrics()
            lines.append(f"  welfare {m['welfare']:.2f} / optimum {m['optimal_welfare']:.2f} "
                         f"(efficiency {m['efficiency']:.4f})  Delta {m['delta']:.3g}")
            for i, a in enumerate(self.vsps):
                lines.append(f"  {a:>7} bid {self.core.last_bids[0, i]:8.2f} (truthful "
                             f"{self.x_truthful[i]:8.2f})  tax {m['tax'][i]:8.2f}  "
                             f"profit {m['profit'][i]:8.2f}")
        return "\n".join(lines)
