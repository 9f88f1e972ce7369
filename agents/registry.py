"""The learner registry: every learner and scripted policy of the suite under one name, with the
markets it fits and its default configuration per market.

    from agents.registry import learner_registry, register_learner
    register_learner("MyBidder", build=lambda env, seed, **options: MyBidder(env, seed, **options),
                     markets={"auction_envs/KellyGame": {"lr": 0.1}}, kind="learner")

A *market* key is an env id without its version (``auction_envs/KellyGame``): a learner fits every
version of it. ``build(env, seed, **options)`` returns a joint :class:`agents.base.Learner`; the
options are the market's defaults updated by the caller's. ``env_kwargs`` in a market's defaults
are constructor arguments the learner needs from the env (e.g. Hedge needs the counterfactual
grid); they are popped before ``build`` and passed to ``auction_envs.make`` instead.

Builders import their learner lazily, so listing the registry needs neither torch nor SB3.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.base import Learner

KINDS = ("learner", "scripted", "random")
_VERSION = re.compile(r"-v\d+$")


def market_of(env_id: str) -> str:
    """``auction_envs/KellyGame-v0`` -> ``auction_envs/KellyGame``."""
    return _VERSION.sub("", env_id)


@dataclass(frozen=True)
class LearnerSpec:
    """A registered learner: its name, how to build it, and the markets it fits."""

    name: str
    build: Callable[..., Learner]
    markets: dict[str, dict[str, Any]]
    kind: str = "learner"
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: leaderboard grids it runs in ("quick", "full"); a slow learner joins the full grid only
    modes: tuple[str, ...] = ("quick", "full")

    def fits(self, env_id: str) -> bool:
        return market_of(env_id) in self.markets

    def options(self, env_id: str, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(learner options, env kwargs) for ``env_id``: the market's defaults, then overrides."""
        if not self.fits(env_id):
            raise KeyError(f"learner {self.name!r} does not fit {env_id}; it fits "
                           f"{sorted(self.markets)}")
        options = {**self.markets[market_of(env_id)], **overrides}
        env_kwargs = dict(options.pop("env_kwargs", {}))
        return options, env_kwargs

    def make(self, env: Any, seed: int, **options: Any) -> Learner:
        return self.build(env, seed, **options)


_REGISTRY: dict[str, LearnerSpec] = {}


def register_learner(name: str, build: Callable[..., Learner], markets: dict[str, dict[str, Any]],
                     kind: str = "learner", description: str = "", tags: tuple[str, ...] = (),
                     replace: bool = False, modes: tuple[str, ...] = ("quick", "full")
                     ) -> LearnerSpec:
    """Add a learner to the registry (one call); ``replace`` to overwrite an existing name."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if not markets:
        raise ValueError(f"learner {name!r} must fit at least one market")
    if name in _REGISTRY and not replace:
        raise ValueError(f"learner {name!r} is already registered (pass replace=True)")
    spec = LearnerSpec(name, build, {market_of(m): dict(o) for m, o in markets.items()}, kind,
                       description, tuple(tags), tuple(modes))
    _REGISTRY[name] = spec
    return spec


def learner_registry() -> dict[str, LearnerSpec]:
    _register_built_ins()
    return dict(_REGISTRY)


def get_learner(name: str) -> LearnerSpec:
    registry = learner_registry()
    if name not in registry:
        raise KeyError(f"no learner {name!r}; registered: {sorted(registry)}")
    return registry[name]


def learners_for(env_id: str) -> list[LearnerSpec]:
    """Every registered learner that fits ``env_id``."""
    return [spec for spec in learner_registry().values() if spec.fits(env_id)]


# ---------------------------------------------------------------------------- built-ins
KELLY = ("auction_envs/KellyGame", "auction_envs/KellyGameHeterogeneous")
EXCHANGE_TRADERS = ("auction_envs/ExchangeEconomy", "auction_envs/ExchangeEconomyAmdahl")
EXCHANGE_MECHANISM = ("auction_envs/ExchangeEconomyMechanism",
                      "auction_envs/ExchangeEconomyMechanismAmdahl")
V2X = ("auction_envs/V2XOffloading", "auction_envs/V2XOffloadingHighContention")
CLOUD = ("auction_envs/CloudDoubleAuction", "auction_envs/CloudDoubleAuctionFair")
IOV = ("auction_envs/IoVSlicing", "auction_envs/IoVSlicingVCG")
ALL_MARKETS = KELLY + EXCHANGE_TRADERS + EXCHANGE_MECHANISM + V2X + CLOUD + IOV


def _each(markets: tuple[str, ...], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The same default options for every market in ``markets`` (a copy each)."""
    return {market: dict(options) for market in markets}


def _no_regret(rule: str) -> Callable[..., Learner]:
    def build(env: Any, seed: int, G: float = 1.0, **rule_options: Any) -> Learner:
        from agents.no_regret import NoRegretLearner, make_rule

        horizon = int(env.unwrapped.max_cycles)
        return NoRegretLearner(env, make_rule(rule, G=G, horizon=horizon, **rule_options), seed=seed)
    return build


def _random(env: Any, seed: int) -> Learner:
    from agents.baselines.random_policy import RandomPolicy

    return RandomPolicy(env, seed=seed)


def _bandit_ce(greedy: bool) -> Callable[..., Learner]:
    def build(env: Any, seed: int, **overrides: Any) -> Learner:
        from agents.exchange import BanditCE, GreedyCE

        return (GreedyCE if greedy else BanditCE).from_env(env, seed=seed, **overrides)
    return build


def _proportional_response(env: Any, seed: int) -> Learner:
    from agents.exchange import proportional_response_traders

    return proportional_response_traders(env, seed=seed)


def _passive_v2x(env: Any, seed: int, price: float = 750.0) -> Learner:
    from agents.baselines import PassiveV2XPolicy

    return PassiveV2XPolicy(price=price)


def _scripted_backoff_v2x(env: Any, seed: int) -> Learner:
    from agents.baselines import ScriptedBackoffV2XPolicy

    return ScriptedBackoffV2XPolicy(layout=env.unwrapped.layout)


def _fixed_markup(env: Any, seed: int, markup: float = 0.2) -> Learner:
    from agents.baselines import FixedMarkupPricing

    return FixedMarkupPricing.for_env(env, markup=markup)


def _truthful_iov(env: Any, seed: int, scale: float = 1.0) -> Learner:
    from agents.baselines.truthful_iov import TruthfulIoVBidders

    return TruthfulIoVBidders(env, scale=scale)


def _draco(env: Any, seed: int, **config: Any) -> Learner:
    from agents.fsp import DRACOLearner

    return DRACOLearner(env, seed=seed, **config)


def _maddpg(env: Any, seed: int, **config: Any) -> Learner:
    from agents.maddpg import MADDPG, MADDPGConfig

    return MADDPG(env, MADDPGConfig(**config), seed=seed)


def _mean_field_slicers(algorithm: str, **fixed: Any) -> Callable[..., Learner]:
    def build(env: Any, seed: int, **config: Any) -> Learner:
        from agents.mean_field.teams import iov_slicer_team

        return iov_slicer_team(env, seed, algorithm, **{**fixed, **config})
    return build


def _mf_ddpg_bidders(env: Any, seed: int, **config: Any) -> Learner:
    from agents.mean_field.teams import iov_bidder_team

    return iov_bidder_team(env, seed, **config)


def _shared_ppo(env: Any, seed: int, **config: Any) -> Learner:
    from agents.sb3_ppo import SharedPPO

    return SharedPPO(env, seed=seed, **config)


#: SB3 PPO (shared policy): trained ``episodes`` episodes of the board's length, then frozen
PPO_KELLY = {"episodes": 2, "num_copies": 4, "gamma": 0.0, "learning_rate": 3e-3}
PPO_CLOUD = {"episodes": 2, "normalize_reward": True, "gamma": 0.9, "learning_rate": 1e-3,
             "n_steps": 100, "batch_size": 175}


#: MADDPG on the one-shot Kelly rounds (the settings of tests/agents/test_maddpg.py's game)
MADDPG_KELLY = {"gamma": 0.0, "reward_scale": 0.01, "buffer_size": 256, "batch_size": 64,
                "learning_starts": 64, "actor_lr": 0.01, "critic_lr": 0.01, "noise_start": 0.3,
                "noise_end": 0.1, "noise_anneal_steps": 300}


def _register_built_ins() -> None:
    if "Random" in _REGISTRY:
        return
    import auction_envs

    # the floor of every normalized score fits every registered market, variants included
    every_market = {market_of(env_id): {} for env_id in auction_envs.list_envs()}
    register_learner("Random", _random, every_market, kind="random",
                     description="uniform random actions in every agent's space (the floor of "
                                 "every normalized score)")
    for rule, note in (("BR", "best response to last round"), ("OGD_F", "online gradient, fixed step"),
                       ("OGD_V", "online gradient, 1/sqrt(t) step"),
                       ("DAQ_F", "dual averaging, fixed step"), ("RRM_V", "RRM, 1/sqrt(t) step")):
        register_learner(rule, _no_regret(rule), _each(KELLY, {}), description=note,
                         tags=("no-regret",))
    for rule in ("Hedge", "EXP3"):
        register_learner(rule, _no_regret(rule),
                         _each(KELLY, {"arms": 64} if rule == "EXP3" else
                                       {"env_kwargs": {"counterfactual_grid": 64}}),
                         description=f"{rule} over a 64-bid grid", tags=("no-regret",))
    register_learner("BanditCE", _bandit_ce(False), _each(EXCHANGE_MECHANISM, {}),
                     description="paper 003, Algorithm 1 (GLM estimate, Gaussian sampling, PRD CE)")
    register_learner("GreedyCE", _bandit_ce(True), _each(EXCHANGE_MECHANISM, {}),
                     kind="scripted", description="plug-in CE of the point estimate (no sampling)")
    register_learner("ProportionalResponse", _proportional_response,
                     _each(EXCHANGE_TRADERS, {}),
                     description="proportional response traders (budget split by last utility)")
    register_learner("PassiveV2X", _passive_v2x, _each(V2X, {}), kind="scripted",
                     description="paper 000's passive vehicles: submit at once, constant price")
    register_learner("ScriptedBackoffV2X", _scripted_backoff_v2x, _each(V2X, {}), kind="scripted",
                     description="holds patient requests while the ACA is busy or their type was "
                                 "just rejected; urgent ones bid high")
    for markup in (0.2, 0.5, 1.0, 1.2):
        # markups above 1 need a wider action box (the market is unchanged)
        options = {"markup": markup, **({"env_kwargs": {"multiplier_high": 2.0}} if markup > 1
                                        else {})}
        register_learner(f"FixedMarkup{markup:g}", _fixed_markup, _each(CLOUD, options),
                         kind="scripted",
                         description=f"every provider prices at base x (1 + {markup:g})"
                                     + (" (the best fixed markup of docs/results/"
                                        "cloud_markup_sweep.json)" if markup == 1.2 else ""))
    register_learner("DRACO", _draco, _each(V2X, {}), tags=("fsp", "torch"), modes=("full",),
                     description="paper 000: fictitious self-play actor-critic (agents.fsp); "
                                 "needs torch; full grid only (slow on CPU)")
    register_learner("MADDPG", _maddpg, {**_each(KELLY, MADDPG_KELLY), **_each(CLOUD, {})},
                     tags=("maddpg", "torch"), modes=("full",),
                     description="MADDPG (agents.maddpg): tanh actors, per-agent critics; needs "
                                 "torch; full grid only (slow on CPU)")
    register_learner("PPO", _shared_ppo,
                     {**{market: {**PPO_KELLY, "vector_market": market} for market in KELLY},
                      **_each(CLOUD, PPO_CLOUD)}, tags=("sb3", "torch"),
                     description="SB3 PPO, one policy shared by every agent (agents.sb3_ppo; "
                                 "native vector on Kelly, SuperSuit on the cloud); needs torch")
    register_learner("TruthfulIoV", _truthful_iov, _each(IOV, {}), kind="scripted",
                     description="every VSP bids its utility at the exact optimum (x_i = u_i(s*_i))")
    iov_learned = {"auction_envs/IoVSlicingLearned": {}}
    for name, algorithm, fixed, note in (
            ("DVCG-MFMARL", "MF-AC", {}, "paper 002: mean-field actor-critic slicers"),
            ("DVCG-MFQ", "MF-Q", {}, "mean-field Q-learning slicers (Boltzmann)"),
            ("DVCG-MARL", "MF-AC", {"use_mean_field": False},
             "paper 002's independent learners: the MF-AC slicers without the mean field")):
        register_learner(name, _mean_field_slicers(algorithm, **fixed), iov_learned,
                         tags=("mean-field", "torch"), modes=("full",),
                         description=f"{note} (agents.mean_field), truthful bidders; needs torch")
    register_learner("MF-DDPG", _mf_ddpg_bidders, _each(IOV, {}), tags=("mean-field", "torch"),
                     modes=("full",),
                     description="deterministic mean-field actor-critic bidders (agents.mean_field;"
                                 " mean field = soft histogram of the others' bids); needs torch")
