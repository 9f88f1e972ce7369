"""The V2X observation: a named layout (``core.layout``) and its vectorized construction.

One observation row per vehicle, built for all vehicles at once from the core simulator's state
(no per-vehicle numpy calls). Learners and baselines read fields by name:
``env.unwrapped.layout.get(obs, "needs_action")``.
"""

from __future__ import annotations

import numpy as np

from auction_envs._numba import compiled_on_first_use
from auction_envs.core.layout import Field, ObservationLayout
from auction_envs.envs.v2x.core import V2XCore
from auction_envs.envs.v2x.requests import DECIDE

MAX_BUDGET = 2000.0
REQUEST_FEATURES = ("present", "work", "has_F1", "has_F2", "deadline", "time_left",
                    "value_per_budget", "attempts", "type")
DEADLINE_SCALE = 300.0  # the longest relative deadline of the synthetic setup
UPLINK_SCALE = 1690.0  # Mbps: the uplink fit at distance 0


def build_layout(service_names: tuple[str, ...], obs_requests: int, max_held: int,
                 max_work: float, max_rebids: int, radius: float) -> ObservationLayout:
    """The field table of ``V2XOffloadingEnv`` (its docstring prints ``layout.table()``)."""
    unit = {"low": 0.0, "high": 1.0}
    fields = [
        Field("needs_action", **unit, description="1 if a request waits for a decision"),
        Field("budget", low=0.0, scale=MAX_BUDGET, description="the vehicle's budget B"),
        Field("n_deciding", low=0.0, scale=10.0, description="requests waiting for a decision"),
        Field("n_held", low=0.0, scale=float(max_held), description="requests held (backed off)"),
        Field("n_in_service", low=0.0, scale=10.0,
              description="admitted requests in transit, queued or running"),
        Field("edge_utilization", **unit, description="committed load of the edge site (exact)"),
        Field("remote_utilization", **unit,
              description="remote utilization as the ACA sees it (delayed, noisy)"),
        Field("system_utilization", **unit, description="beta: system utilization, the ACA's view"),
        Field("active_vehicles", **unit, description="fraction of vehicle slots present"),
        Field("present", **unit, description="1 unless the slot's vehicle is outside the junction"),
        Field("distance", low=0.0, scale=radius, description="distance to the ACA (m; radius if absent)"),
        Field("uplink_share", low=0.0, scale=UPLINK_SCALE,
              description="the vehicle's uplink share (Mbps; 0 in the synthetic setup)"),
        Field("last_reward_per_budget", low=-np.inf,
              description="the vehicle's last reward / B"),
        Field("arrival_rate", low=0.0,
              description="the vehicle's requests per step, moving average over ~100 steps"),
        Field("system_arrival_rate", low=0.0, scale=10.0,
              description="all vehicles' requests per step, moving average over ~100 steps"),
        Field("last_price_per_budget", size=len(service_names), low=0.0,
              description="last clearing price per service type ("
                          + ", ".join(service_names) + ") / B"),
        Field("last_bid_count", size=len(service_names), low=0.0, scale=10.0,
              description="bids in the last step's auction per service type (competing bids)"),
        Field("last_admitted_count", size=len(service_names), low=0.0, scale=10.0,
              description="winners of the last step's auction per service type"),
    ]
    request_fields = {
        "present": Field("present", **unit, description="1 if this request slot is filled"),
        "work": Field("work", low=0.0, high=1.0, scale=max_work, description="time-resource units"),
        "has_F1": Field("has_F1", **unit, description="the chain contains F1"),
        "has_F2": Field("has_F2", **unit, description="the chain contains F2"),
        "deadline": Field("deadline", low=0.0, high=1.0, scale=DEADLINE_SCALE,
                          description="relative deadline Q (steps)"),
        "time_left": Field("time_left", low=0.0, scale=DEADLINE_SCALE,
                           description="steps to the deadline"),
        "value_per_budget": Field("value_per_budget", low=0.0, description="bid value v / B"),
        "attempts": Field("attempts", low=0.0, high=1.0, scale=max_rebids + 1.0,
                          description="submissions so far"),
    }
    request_fields["type"] = Field("type", size=len(service_names), **unit,
                                   description="one-hot service type (" + ", ".join(service_names)
                                   + "): tells F1-F2 from F2-F1")
    for j in range(obs_requests):
        for name in REQUEST_FEATURES:
            f = request_fields[name]
            fields.append(Field(f"request{j}_{name}", f.size, f.low, f.high, f.scale,
                                f"request {j} (earliest deadlines first): {f.description}"))
    return ObservationLayout(fields)


def stack_layout(frame: ObservationLayout, history: int) -> ObservationLayout:
    """The layout of ``history`` frames stacked newest first: the newest frame keeps the field
    names (``layout.get(obs, "needs_action")`` reads the current step), the frame ``k`` steps old
    prefixes them with ``lag{k}_``. ``obs.reshape(history, frame.size)`` gives the frames."""
    if history == 1:
        return frame
    fields = list(frame.fields)
    for lag in range(1, history):
        fields += [Field(f"lag{lag}_{f.name}", f.size, f.low, f.high, f.scale,
                         f"{f.description} ({lag} steps ago)") for f in frame.fields]
    return ObservationLayout(fields)


class V2XObserver:
    """Builds every vehicle's observation in one pass (natural units, then divided by the scales)."""

    #: the scalar fields of each vehicle's own (in the order ``__call__`` stacks them)
    OWN_FIELDS = ("needs_action", "budget", "n_deciding", "n_held", "n_in_service", "present",
                  "distance", "uplink_share", "last_reward_per_budget", "arrival_rate")
    #: the fields that are the same for every vehicle (written with one broadcast)
    SHARED_FIELDS = ("edge_utilization", "remote_utilization", "system_utilization",
                     "active_vehicles", "system_arrival_rate", "last_bid_count",
                     "last_admitted_count")

    def __init__(self, layout: ObservationLayout, core: V2XCore, type_work: np.ndarray,
                 type_has: np.ndarray, obs_requests: int) -> None:
        self.layout = layout
        self.core = core
        self.obs_requests = obs_requests
        self.scale = np.concatenate([np.full(f.size, f.scale) for f in layout.fields])
        self.column = {name: layout.slice(name).start for name in layout.names}
        self.price_slice = layout.slice("last_price_per_budget")
        self.own_columns = np.array([self.column[name] for name in self.OWN_FIELDS])
        self.shared_columns = np.concatenate([np.arange(layout.size)[layout.slice(name)]
                                              for name in self.SHARED_FIELDS])
        self.request_base = self.column.get("request0_present", layout.size)
        # one request block per service type with its type's entries (present, work, has_F1,
        # has_F2, one-hot type) filled in and the request's own (deadline, time_left,
        # value_per_budget, attempts) left 0: a block is one row of it plus four columns
        n_types = len(type_work)
        self.type_blocks = np.column_stack([np.ones(n_types), type_work, type_has[:, 0],
                                            type_has[:, 1], np.zeros((n_types, 4)),
                                            np.eye(n_types)])

    def __call__(self, last_reward: np.ndarray, now: int) -> np.ndarray:
        core = self.core
        n = core.n_vehicles
        n_deciding, n_held, n_in_service = core.counts()
        present = core.present
        budget = core.budget
        distance, share = core.population.radio_features(core.transit_count())
        capacity = core.site_capacity
        shared = np.concatenate((
            (min(1.0, core.committed[0] / capacity[0]), float(core.view_utilization[1]),
             min(1.0, float(core.view_utilization @ capacity) / core.total_capacity),
             np.count_nonzero(present) / n,  # present.mean(), the same float
             np.add.reduce(core.arrival_rate)),  # (what .sum() calls)
            core.last_bid_count, core.last_admitted_count))
        own = (n_deciding > 0) & present, budget, n_deciding, n_held, n_in_service, present, \
            distance, share, last_reward / budget, core.arrival_rate
        kernel = _compiled_frame()
        if kernel is not None:  # the same arithmetic in one compiled pass (bit for bit, tested)
            R = core.requests
            frame = np.empty((n, self.layout.size), dtype=np.float32)
            kernel(frame, *own, self.own_columns, shared, self.shared_columns,
                   core.last_price, self.price_slice.start, self.scale, self.obs_requests,
                   self.request_base, self.type_blocks, R.state, R.vehicle, R.stype,
                   R.relative_deadline, R.deadline, R.value, R.attempts, now)
            return frame
        raw = np.zeros((n, self.layout.size))
        raw[:, self.own_columns] = np.stack(own, axis=1)
        raw[:, self.price_slice] = core.last_price[None, :] / budget[:, None]
        raw[:, self.shared_columns] = shared
        if self.obs_requests:
            self._request_blocks(raw, core.requests, now)
        raw /= self.scale
        return raw.astype(np.float32)

    def _request_blocks(self, raw: np.ndarray, R, now: int) -> None:
        """The ``obs_requests`` blocks: each vehicle's requests waiting for a decision, earliest
        deadline first, ties in arrival order."""
        idx = (R.state == DECIDE).nonzero()[0]
        if not idx.size:
            return
        # lexsort is stable and rows are in arrival order: ties keep it
        idx = idx[np.lexsort((R.deadline[idx], R.vehicle[idx]))]
        vehicle = R.vehicle[idx]
        rank = np.arange(idx.size) - np.searchsorted(vehicle, vehicle, side="left")
        keep = rank < self.obs_requests
        idx, vehicle, rank = idx[keep], vehicle[keep], rank[keep]
        features = self.type_blocks[R.stype[idx]]
        features[:, 4] = R.relative_deadline[idx]
        features[:, 5] = np.maximum(R.deadline[idx] - now, 0)
        features[:, 6] = R.value[idx] / self.core.budget[vehicle]
        features[:, 7] = R.attempts[idx]
        width = features.shape[1]
        columns = self.request_base + rank[:, None] * width + np.arange(width)[None, :]
        raw[vehicle[:, None], columns] = features


def _fill_frame(frame, needs_action, budget, n_deciding, n_held, n_in_service, present, distance,
                share, reward_per_budget, arrival_rate, own_columns, shared, shared_columns,
                last_price, price_start, scale, obs_requests, request_base, type_blocks, state,
                vehicle, stype, relative_deadline, deadline, value, attempts,
                now):  # pragma: no cover (numba)
    """``V2XObserver.__call__``'s numpy path as one loop, compiled by numba: every entry is the
    same float64 value divided by its scale, then rounded to float32 (so the frames are equal bit
    for bit); the request blocks pick each vehicle's ``obs_requests`` pending requests with the
    earliest deadlines, ties in table (arrival) order, as the stable sort does."""
    n, size = frame.shape
    own = np.empty(own_columns.size)  # one vehicle's own fields, as float64 (OWN_FIELDS order)
    for v in range(n):
        own[0] = 1.0 if needs_action[v] else 0.0
        own[1] = budget[v]
        own[2] = n_deciding[v]
        own[3] = n_held[v]
        own[4] = n_in_service[v]
        own[5] = 1.0 if present[v] else 0.0
        own[6] = distance[v]
        own[7] = share[v]
        own[8] = reward_per_budget[v]
        own[9] = arrival_rate[v]
        for j in range(size):
            frame[v, j] = 0.0
        for j in range(own_columns.size):
            c = own_columns[j]
            frame[v, c] = np.float32(own[j] / scale[c])
        for k in range(last_price.size):
            c = price_start + k
            frame[v, c] = np.float32(last_price[k] / budget[v] / scale[c])
        for j in range(shared_columns.size):
            c = shared_columns[j]
            frame[v, c] = np.float32(shared[j] / scale[c])
    if obs_requests == 0:
        return
    # each vehicle's pending requests with the earliest deadlines, by insertion into a short
    # sorted list (a later request goes after an equal deadline: table order)
    chosen = np.empty((n, obs_requests), dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for row in range(state.size):
        if state[row] != 0:  # DECIDE
            continue
        v = vehicle[row]
        d = deadline[row]
        position = count[v]
        while position > 0 and deadline[chosen[v, position - 1]] > d:
            position -= 1
        if position >= obs_requests:
            continue
        last = min(count[v], obs_requests - 1)
        for q in range(last, position, -1):
            chosen[v, q] = chosen[v, q - 1]
        chosen[v, position] = row
        count[v] = min(count[v] + 1, obs_requests)
    width = type_blocks.shape[1]
    for v in range(n):
        for rank in range(count[v]):
            row = chosen[v, rank]
            base = request_base + rank * width
            block = type_blocks[stype[row]]
            for j in range(width):
                frame[v, base + j] = np.float32(block[j] / scale[base + j])
            frame[v, base + 4] = np.float32(relative_deadline[row] / scale[base + 4])
            frame[v, base + 5] = np.float32(max(deadline[row] - now, 0) / scale[base + 5])
            frame[v, base + 6] = np.float32(value[row] / budget[v] / scale[base + 6])
            frame[v, base + 7] = np.float32(attempts[row] / scale[base + 7])


# without numba (the ``fast`` extra) the numpy path of ``V2XObserver.__call__`` runs
_compiled_frame = compiled_on_first_use(_fill_frame)


__all__ = ["MAX_BUDGET", "REQUEST_FEATURES", "V2XObserver", "build_layout", "stack_layout"]
