"""Mobility of the realistic V2X setup: one 4-way junction with a centred traffic light.

Two interchangeable models drive a fixed pool of vehicle slots:

* :class:`JunctionMobility` (default): a built-in, vectorized car-following model;
* :class:`SumoMobility`: the same junction in SUMO through ``libsumo`` (optional extra
  ``auction-envs[sumo]``), the network built by SUMO's ``netgenerate``.

Geometry [paper 000, §IV-B; details decision]: the ACA sits at the centre; each of the four arms
reaches ``radius`` = 65 m from it and has ``lanes`` = 2 lanes per direction. Vehicles enter at the
end of a uniformly random arm, one every ``arrival_interval`` seconds, and drive straight through
to the opposite arm, at ``speed_kmh`` when free. The light alternates green between the
north-south and the east-west axis; each green phase lasts ``green`` seconds (a fixed number, or a
``(low, high)`` range drawn per phase), with no amber phase. A vehicle stops at the stop line
(``stop_line`` m before the centre) on red, and keeps ``gap`` m behind its leader in its lane.

Both models expose the same interface: ``reset(rng)``, ``step(rng) -> (entered, left)`` (slot
indices), ``present`` (bool per slot) and ``distance()`` (m to the ACA per slot; ``inf`` when
absent). A vehicle that arrives when every slot is taken is not admitted to the junction (counted
in ``refused``).

Throughput model: :func:`uplink_throughput` is the paper's 802.11ac fit
``-26 * distance + 1690`` Mbps, floored at ``min_mbps``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

APPROACHES = ("north", "east", "south", "west")  # where the vehicle comes from


def uplink_throughput(distance: np.ndarray, min_mbps: float = 10.0) -> np.ndarray:
    """802.11ac throughput in Mbps at ``distance`` m: ``max(-26 d + 1690, min_mbps)`` (paper 000).

    The fit reaches 0 at 65 m, the coverage radius; the floor keeps transfers finite at the edge.
    """
    return np.maximum(-26.0 * np.asarray(distance, dtype=np.float64) + 1690.0, min_mbps)


def draw_green(green: float | tuple[float, float], rng: np.random.Generator) -> float:
    if isinstance(green, tuple):
        return float(rng.uniform(*green))
    return float(green)


@dataclass
class JunctionMobility:
    """Built-in mobility: straight-through traffic on four 2-lane arms with a two-phase light.

    Positions are kept as the path coordinate ``s`` in ``[0, 2 * radius]`` along each vehicle's
    straight route (the centre at ``s = radius``); the distance to the ACA adds a lateral lane
    offset of 1.75 m per lane.
    """

    n_slots: int
    radius: float = 65.0
    speed_kmh: float = 10.0
    arrival_interval: float = 2.2
    green: float | tuple[float, float] = (10.0, 40.0)
    lanes: int = 2
    gap: float = 7.5
    stop_line: float = 10.0
    dt: float = 0.1
    refused: int = 0
    s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def reset(self, rng: np.random.Generator) -> None:
        n = self.n_slots
        self.s = np.zeros(n)
        self.approach = np.zeros(n, dtype=np.int64)
        self.lane = np.zeros(n, dtype=np.int64)
        self.present = np.zeros(n, dtype=bool)
        self.time = 0.0
        self.next_arrival = 0.0
        self.ns_green = True
        self.phase_end = draw_green(self.green, rng)
        self.refused = 0

    def distance(self) -> np.ndarray:
        offset = 1.75 * (self.lane + 0.5)
        d = np.hypot(self.s - self.radius, offset)
        return np.where(self.present, d, np.inf)

    def step(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Advance ``dt`` seconds; return the slots whose vehicle entered and left."""
        self.time += self.dt
        while self.time >= self.phase_end:
            self.ns_green = not self.ns_green
            self.phase_end += draw_green(self.green, rng)
        speed = self.speed_kmh / 3.6
        target = self.s + speed * self.dt
        green_for = np.where(self.approach % 2 == 0, self.ns_green, not self.ns_green)
        line = self.radius - self.stop_line
        stop = self.present & ~green_for & (self.s <= line + 1e-9)
        target = np.where(stop, np.minimum(target, line), target)
        # car following, lane by lane, leader first: new_i = max(s_i, min(target_i, new_lead - gap)),
        # computed as a running minimum of target_i + rank_i * gap within each lane
        present = np.flatnonzero(self.present)
        if present.size:
            order = present[np.lexsort((-self.s[present], self.lane[present],
                                        self.approach[present]))]
            group = self.approach[order] * self.lanes + self.lane[order]
            start = np.r_[True, group[1:] != group[:-1]]
            group_index = np.cumsum(start) - 1
            first = np.flatnonzero(start)[group_index]
            rank = np.arange(order.size) - first
            shifted = target[order] + rank * self.gap - group_index * 1e6
            bound = np.minimum.accumulate(shifted) + group_index * 1e6 - rank * self.gap
            self.s[order] = np.maximum(self.s[order], bound)
        left = np.flatnonzero(self.present & (self.s >= 2 * self.radius))
        self.present[left] = False
        entered = []
        while self.time >= self.next_arrival:
            self.next_arrival += self.arrival_interval
            approach = int(rng.integers(4))
            lane = int(rng.integers(self.lanes))
            same = self.present & (self.approach == approach) & (self.lane == lane)
            free = np.flatnonzero(~self.present)
            if free.size == 0 or (same.any() and self.s[same].min() < self.gap):
                self.refused += 1  # no slot, or the entry is blocked
                continue
            i = int(free[0])
            self.present[i] = True
            self.s[i] = 0.0
            self.approach[i] = approach
            self.lane[i] = lane
            entered.append(i)
        return np.array(entered, dtype=np.int64), left

    def close(self) -> None:
        """Nothing to release."""


def sumo_available() -> tuple[bool, str]:
    """Whether the SUMO mode can run here, and why not."""
    try:
        import libsumo  # noqa: F401
    except ImportError as error:
        return False, f"libsumo is not importable ({error}); pip install 'auction-envs[sumo]'"
    if _netgenerate() is None:
        return False, "SUMO's netgenerate binary was not found (pip install eclipse-sumo)"
    return True, ""


def _netgenerate() -> str | None:
    try:
        import sumo  # the eclipse-sumo wheel

        candidate = Path(sumo.SUMO_HOME) / "bin" / "netgenerate"
        if candidate.exists():
            return str(candidate)
    except (ImportError, AttributeError):
        pass
    home = os.environ.get("SUMO_HOME")
    if home and (Path(home) / "bin" / "netgenerate").exists():
        return str(Path(home) / "bin" / "netgenerate")
    return shutil.which("netgenerate")


def build_junction_network(directory: str | Path, radius: float = 65.0, lanes: int = 2,
                           speed_kmh: float = 50.0) -> Path:
    """Write the junction (one traffic-light node, four arms of ``radius`` m, ``lanes`` lanes each
    way) with SUMO's ``netgenerate`` and return the ``.net.xml`` path."""
    binary = _netgenerate()
    if binary is None:
        raise RuntimeError("SUMO's netgenerate was not found (pip install eclipse-sumo)")
    path = Path(directory) / "junction.net.xml"
    command = [
        binary, "--grid", "--grid.x-number", "1", "--grid.y-number", "1",
        "--grid.attach-length", str(radius), "--default.lanenumber", str(lanes),
        "--default.speed", str(speed_kmh / 3.6), "--tls.set", "A0",
        "--no-turnarounds", "true", "--output-file", str(path),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return path


@dataclass
class SumoMobility:
    """The junction driven by SUMO (``libsumo``): same interface as :class:`JunctionMobility`.

    The network comes from :func:`build_junction_network`; the centre node is a traffic light
    whose program is replaced by the two-phase plan described in the module docstring (greens of
    ``green`` seconds, drawn per phase when a range). Vehicles are inserted every
    ``arrival_interval`` s on a uniformly random arm, routed straight through, with maximum speed
    ``speed_kmh``; SUMO's car-following model (Krauss) does the rest. One SUMO simulation runs per
    process at a time (libsumo is a singleton); ``reset`` restarts it.
    """

    n_slots: int
    radius: float = 65.0
    speed_kmh: float = 10.0
    arrival_interval: float = 2.2
    green: float | tuple[float, float] = (10.0, 40.0)
    lanes: int = 2
    dt: float = 0.1
    refused: int = 0

    def reset(self, rng: np.random.Generator) -> None:
        import libsumo

        ok, why = sumo_available()
        if not ok:
            raise RuntimeError(why)
        self._directory = getattr(self, "_directory", None) or tempfile.mkdtemp(prefix="v2x_sumo_")
        net = Path(self._directory) / "junction.net.xml"
        if not net.exists():
            build_junction_network(self._directory, self.radius, self.lanes)
        self._close()
        libsumo.start(["sumo", "-n", str(net), "--step-length", str(self.dt), "--no-step-log",
                       "--no-warnings", "--seed", str(int(rng.integers(2**31 - 1))),
                       "--begin", "0"])
        self._running = True
        self._setup_routes(libsumo)
        self.present = np.zeros(self.n_slots, dtype=bool)
        self.position = np.zeros((self.n_slots, 2))
        self.slot_of: dict[str, int] = {}
        self.time = 0.0
        self.next_arrival = 0.0
        self.ns_green = True
        self.phase_end = draw_green(self.green, rng)
        self._apply_light(libsumo)
        self._counter = 0
        self.refused = 0

    def _setup_routes(self, libsumo) -> None:
        edges = libsumo.edge.getIDList()
        nodes = {}
        for edge in edges:
            if edge.startswith(":"):
                continue
            nodes[edge] = (libsumo.edge.getFromJunction(edge), libsumo.edge.getToJunction(edge))
        self._tls = libsumo.trafficlight.getIDList()[0]
        centre = self._tls
        incoming = {e: ft[0] for e, ft in nodes.items() if ft[1] == centre}
        outgoing = {ft[1]: e for e, ft in nodes.items() if ft[0] == centre}
        self.center = np.array(libsumo.junction.getPosition(centre))
        self._routes = []
        for edge, start in incoming.items():
            start_xy = np.array(libsumo.junction.getPosition(start))
            direction = self.center - start_xy
            # straight on: the outgoing arm whose end lies opposite the entry
            best, best_cos = None, -2.0
            for end, out in outgoing.items():
                vector = np.array(libsumo.junction.getPosition(end)) - self.center
                cos = float(direction @ vector / (np.linalg.norm(direction) * np.linalg.norm(vector)))
                if cos > best_cos:
                    best, best_cos = out, cos
            route_id = f"route_{edge}"
            libsumo.route.add(route_id, [edge, best])
            axis_ns = abs(direction[1]) > abs(direction[0])
            self._routes.append((route_id, axis_ns))
        self._routes.sort()

    def _apply_light(self, libsumo) -> None:
        """Green for the axis whose turn it is: links entering from that axis get 'G', others 'r'."""
        links = libsumo.trafficlight.getControlledLinks(self._tls)
        state = []
        for link in links:
            if not link:
                state.append("r")
                continue
            lane = link[0][0]
            start = np.array(libsumo.junction.getPosition(
                libsumo.edge.getFromJunction(libsumo.lane.getEdgeID(lane))))
            direction = self.center - start
            axis_ns = abs(direction[1]) > abs(direction[0])
            state.append("G" if axis_ns == self.ns_green else "r")
        libsumo.trafficlight.setRedYellowGreenState(self._tls, "".join(state))

    def distance(self) -> np.ndarray:
        d = np.linalg.norm(self.position - self.center, axis=1)
        return np.where(self.present, d, np.inf)

    def step(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        import libsumo

        self.time += self.dt
        if self.time >= self.phase_end:
            while self.time >= self.phase_end:
                self.ns_green = not self.ns_green
                self.phase_end += draw_green(self.green, rng)
            self._apply_light(libsumo)
        while self.time >= self.next_arrival:
            self.next_arrival += self.arrival_interval
            route_id, _ = self._routes[int(rng.integers(len(self._routes)))]
            vehicle = f"v{self._counter}"
            self._counter += 1
            libsumo.vehicle.add(vehicle, route_id, departLane="random", departSpeed="max")
            libsumo.vehicle.setMaxSpeed(vehicle, self.speed_kmh / 3.6)
        libsumo.simulationStep()
        entered, left = [], []
        alive = sorted(libsumo.vehicle.getIDList(), key=lambda v: int(v[1:]))
        alive_set = set(alive)
        for vehicle in [v for v in self.slot_of if v not in alive_set]:
            slot = self.slot_of.pop(vehicle)
            self.present[slot] = False
            left.append(slot)
        for vehicle in alive:
            slot = self.slot_of.get(vehicle)
            if slot is None:
                free = np.flatnonzero(~self.present)
                if free.size == 0:
                    self.refused += 1
                    libsumo.vehicle.remove(vehicle)
                    continue
                slot = int(free[0])
                self.slot_of[vehicle] = slot
                self.present[slot] = True
                entered.append(slot)
            self.position[slot] = libsumo.vehicle.getPosition(vehicle)
        return np.array(sorted(entered), dtype=np.int64), np.array(sorted(left), dtype=np.int64)

    def _close(self) -> None:
        if getattr(self, "_running", False):
            import libsumo

            try:
                libsumo.close()
            except Exception:  # already closed by another instance
                pass
            self._running = False

    def close(self) -> None:
        self._close()
