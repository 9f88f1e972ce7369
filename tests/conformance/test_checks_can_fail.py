"""Each strict conformance check fails on an env broken in exactly the way it guards against.

The broken envs derive from :class:`auction_envs.testing.toy.ToyMarket` (no market of the suite),
so a market's refactor cannot silently turn these tests into ones that cannot fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from auction_envs import InvalidActionError, InvalidArgumentError
from auction_envs.core.checks import check_int, check_real
from auction_envs.testing import conformance
from auction_envs.testing.conformance import STRICT_CHECKS
from auction_envs.testing.toy import ArrayToyMarket, ToyMarket


class ObservationOutsideSpace(ToyMarket):
    def _observations(self):
        observations = super()._observations()
        if self.num_cycles >= 5:  # the target entry above its bound of 0.7
            observations = {a: o.copy() for a, o in observations.items()}
            for observation in observations.values():
                observation[0] = 1.5
        return observations


class MissingObservationKey(ToyMarket):
    def _observations(self):
        observations = super()._observations()
        if self.num_cycles >= 2:
            observations.pop(self.possible_agents[-1], None)
        return observations


class NonFiniteReward(ToyMarket):
    def _play(self, joint):
        rewards, infos, terminated = super()._play(joint)
        if self.num_cycles >= 7:
            rewards[0] = np.nan
        return rewards, infos, terminated


class UnseededNoise(ToyMarket):
    def _play(self, joint):
        rewards, infos, terminated = super()._play(joint)
        return rewards + np.random.default_rng().normal(), infos, terminated  # not self.np_random


class LosesRngWhenPickled(ToyMarket):
    def __getstate__(self):
        state = self.__dict__.copy()
        state["np_random"] = np.random.default_rng(12345)
        return state


class Unpicklable(ToyMarket):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.callback = lambda: None


class AcceptsNaN(ToyMarket):
    def validate_actions(self, actions):
        return {agent: np.atleast_1d(np.asarray(actions.get(agent, [0.4]), dtype=float))
                for agent in self.agents}


class MutatesBeforeValidating(ToyMarket):
    def validate_actions(self, actions):
        self._last = self._last + 0.01  # corrupts state even when the actions are then rejected
        self._error_sum = self._error_sum + 1.0  # (this one shows in metrics() only)
        return super().validate_actions(actions)


class CastsAnything(ToyMarket):
    """The defect of issue 19: ``np.array(v, float64)`` takes "0.4", True, complex (real part)."""

    def validate_actions(self, actions):
        try:
            return super().validate_actions(actions)
        except InvalidActionError:
            cast = {}
            for agent in self.agents:
                try:
                    cast[agent] = np.real(np.asarray(actions[agent])).astype(float).reshape(1)
                except (TypeError, ValueError, KeyError):
                    raise InvalidActionError("bad", agent=agent) from None
            return cast


class RaisesTypeErrors(ToyMarket):
    """Lets numpy's own exceptions escape (TypeError, OverflowError) instead of ValueErrors."""

    def validate_actions(self, actions):
        for agent in self.agents:
            float(np.asarray(actions[agent], dtype=np.float64).reshape(-1)[0])
        return super().validate_actions(actions)


class SwapsGeneratorFirst(ToyMarket):
    """The defect of issue 19: the generator is replaced before the seed is found invalid."""

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.np_random = np.random.default_rng(np.random.SeedSequence(12345))
        return super().reset(seed=seed, options=options)


class DrawsBeforeChecking(ToyMarket):
    def reset(self, seed=None, options=None):
        self.np_random.random()  # advances the generator, then the base rejects the call
        return super().reset(seed=seed, options=options)


class RejectsDocumentedBounds(ToyMarket):
    """Compares against the float32 Box in float64: 0.1 < float32(0.1) is rejected."""

    def validate_actions(self, actions):
        for agent in self.agents:
            if np.any(np.asarray(actions[agent], np.float64) < self.action_space(agent).low):
                raise InvalidActionError("below the float32 bound", agent=agent)
        return super().validate_actions(actions)


class StateCrashesBeforeReset(ToyMarket):
    def state(self):
        return np.concatenate([self._target, self._last.ravel()]).astype(np.float32)


class MetricsPlaceholderTypeError(ToyMarket):
    def metrics(self):
        return {"mean_error": self._error_sum / self.num_cycles}


class EmptyInfosAtReset(ToyMarket):
    def _reset_market(self, options):
        super()._reset_market(options)
        return {agent: {} for agent in self.agents}


class InfoTypeChanges(ArrayToyMarket):
    def _play(self, joint):
        rewards, infos, terminated = super()._play(joint)
        for info in infos.values():
            info["error"] = np.array([info["error"]])  # a float at reset, an array at steps
        return rewards, infos, terminated


class RejectsTheUpperEnd(ToyMarket):
    """Too strict: values of the space at its upper end (above 0.69) are refused."""

    def validate_actions(self, actions):
        validated = super().validate_actions(actions)
        for agent, value in validated.items():
            if np.any(value > 0.69):
                raise InvalidActionError("too high", agent=agent, value=value)
        return validated


class LoopsOnAPair(ToyMarket):
    """The defect of issue 19 (V2X ``backoff_threshold=(1.5, 0.1)``): a ``(mean, std)`` pair drawn
    by unbounded rejection into [0, 1]; a huge std makes the loop endless."""

    def __init__(self, threshold=(0.5, 0.1), **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(threshold, tuple) and len(threshold) == 2):
            raise InvalidArgumentError("threshold", threshold, "a pair (mean, std)")
        self.threshold = (check_real("threshold", threshold[0]),
                          check_real("threshold", threshold[1], low=0.0))  # no upper bound

    def _reset_market(self, options):
        infos = super()._reset_market(options)
        mean, std = self.threshold
        draw = self.np_random.normal(mean, std)
        while not 0.0 <= draw <= 1.0:  # no bound on the rounds
            draw = self.np_random.normal(mean, std)
        return infos


class AcceptsNaNArgument(ToyMarket):
    """``scale`` is never checked: NaN reaches the observations."""

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def _observations(self):
        return {agent: (observation * self.scale).astype(np.float32)
                for agent, observation in super()._observations().items()}


class RawNumpyErrors(ToyMarket):
    """``weights`` goes straight to numpy: ``"abc"`` raises numpy's ValueError, naming nothing."""

    def __init__(self, weights=(1.0, 1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.weights = np.asarray(weights, dtype=np.float64)


class UnboundedCount(ToyMarket):
    """``slots`` has a lower bound only: ``10**18`` allocates until ``MemoryError``."""

    def __init__(self, slots=4, **kwargs):
        super().__init__(**kwargs)
        self.slots = np.zeros(check_int("slots", slots, low=1))


class ChecksOnlyAtReset(ToyMarket):
    """Accepts any ``target`` at construction and fails at reset (naming it, but too late)."""

    def __init__(self, target=0.4, **kwargs):
        super().__init__(**kwargs)
        self.fixed_target = target

    def _reset_market(self, options):
        target = check_real("target", self.fixed_target, low=self.low, high=self.high)
        return super()._reset_market({**options, "target": target})


class TinyRewardScale(ToyMarket):
    def reward_scale(self, agent):
        return 1e-9  # every scaled reward in the millions


class NegativeRewardScale(ToyMarket):
    def reward_scale(self, agent):
        return -1.0


BROKEN = {
    "observations_in_space": [ObservationOutsideSpace],
    "key_sets": [MissingObservationKey],
    "finite_rewards": [NonFiniteReward],
    "deterministic": [UnseededNoise],
    "pickle_round_trip": [LosesRngWhenPickled, Unpicklable],
    "malformed_actions": [AcceptsNaN, MutatesBeforeValidating],
    "weird_action_types": [CastsAnything, RaisesTypeErrors, MutatesBeforeValidating],
    "failed_resets": [SwapsGeneratorFirst, DrawsBeforeChecking],
    "float32_bounds": [RejectsDocumentedBounds],
    "before_reset": [StateCrashesBeforeReset, MetricsPlaceholderTypeError],
    "info_structure": [EmptyInfosAtReset, InfoTypeChanges],
    "fuzz_actions": [CastsAnything, AcceptsNaN, RejectsTheUpperEnd, MutatesBeforeValidating],
    "constructor_arguments": [LoopsOnAPair, AcceptsNaNArgument, RawNumpyErrors, UnboundedCount,
                              ChecksOnlyAtReset],
    "reward_scale": [TinyRewardScale, NegativeRewardScale],
}

CASES = [(name, cls) for name, classes in BROKEN.items() for cls in classes]


def test_every_strict_check_has_a_broken_env():
    assert set(BROKEN) == set(STRICT_CHECKS)


@pytest.fixture(autouse=True)
def _short_time_limit(monkeypatch):
    """The constructor check's hang bound, 10 s by default, is 1 s here (the toys are instant)."""
    monkeypatch.setattr(conformance, "CONSTRUCTOR_TIME_LIMIT_S", 1.0)


@pytest.mark.parametrize("check_name, broken_env", CASES, ids=[f"{n}-{c.__name__}" for n, c in CASES])
def test_check_fails_on_broken_env(check_name, broken_env):
    def env_fn(**kwargs):
        return broken_env(**{"n_agents": 3, "max_cycles": 50, **kwargs})

    with pytest.raises(AssertionError):
        STRICT_CHECKS[check_name](env_fn)


@pytest.mark.parametrize("intact", [ToyMarket, ArrayToyMarket])
@pytest.mark.parametrize("check_name", sorted(STRICT_CHECKS))
def test_check_passes_on_the_intact_env(check_name, intact):
    STRICT_CHECKS[check_name](lambda **kw: intact(**{"n_agents": 3, "max_cycles": 50, **kw}))


CONSTRUCTOR_DEFECTS = [
    (LoopsOnAPair, "threshold=(-1.0, 0.1): hangs"),
    (AcceptsNaNArgument, "scale=nan: accepted, then AssertionError: non-finite observation"),
    (RawNumpyErrors, "weights='abc': ValueError does not name 'weights'"),
    (UnboundedCount, "slots=1000000000000000000: MemoryError"),
    (ChecksOnlyAtReset, "target='3.0': accepted, then InvalidArgumentError"),
]


@pytest.mark.parametrize("broken_env, symptom", CONSTRUCTOR_DEFECTS,
                         ids=[cls.__name__ for cls, _ in CONSTRUCTOR_DEFECTS])
def test_constructor_check_reports_the_argument_and_the_symptom(broken_env, symptom):
    with pytest.raises(AssertionError) as failure:
        STRICT_CHECKS["constructor_arguments"](broken_env)
    assert symptom in str(failure.value)
