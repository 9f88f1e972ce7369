"""Compiled passes of the V2X simulator (numba, optional): loops over the request table that
replace a few dozen numpy calls each. Each has a numpy twin in ``core.py`` that runs without
numba; both give the same trajectories bit for bit (``tests/v2x/test_fast_paths.py``, golden).
The file is above 400 lines because it holds one kernel per phase of the step (seven), each a
loop written out with the exact operation order of its numpy twin.
"""

from __future__ import annotations

import numpy as np

from auction_envs._numba import NUMPY_ORDER_SUM, compiled_on_first_use, numpy_order_sum
from auction_envs.envs.v2x.sites import rial_choice, rial_price


def _advance_kernel(state, held_steps, deadline, decide_at, attempts, vehicle, return_latency,
                    finish_at, ready_at, nominal, now, max_hold, max_held,
                    n_vehicles):  # pragma: no cover (numba)
    """``V2XCore._advance_held`` and the closures of ``_advance_sites`` as loops over the table,
    compiled by numba (integer logic, and the same float expression for "hopeless"): the same
    state changes and the same rows closed, each group in the order the numpy path closes them.
    Returns the groups (hold drops, beyond ``max_held``, late with their outcomes, overrun, done,
    hopeless) and the rows still running and queued."""
    size = state.size
    drop = np.empty(size, dtype=np.int64)
    n_drop = 0
    held_count = np.zeros(n_vehicles, dtype=np.int64)
    for row in range(size):
        if state[row] == 1:  # HELD
            held_steps[row] += 1
            if held_steps[row] > max_hold or deadline[row] <= now:
                state[row] = -1
                drop[n_drop] = row
                n_drop += 1
            else:
                held_count[vehicle[row]] += 1
    extra = np.empty(size, dtype=np.int64)
    n_extra = 0
    for v in range(n_vehicles):  # the newest beyond max_held, vehicle by vehicle
        if held_count[v] > max_held:
            seen = 0
            for row in range(size):
                if state[row] == 1 and vehicle[row] == v:
                    seen += 1
                    if seen > max_held:
                        state[row] = -1
                        extra[n_extra] = row
                        n_extra += 1
    late = np.empty(size, dtype=np.int64)
    late_outcome = np.empty(size, dtype=np.int64)
    overrun = np.empty(size, dtype=np.int64)
    done = np.empty(size, dtype=np.int64)
    hopeless = np.empty(size, dtype=np.int64)
    running = np.empty(size, dtype=np.int64)
    queued = np.empty(size, dtype=np.int64)
    n_late = n_overrun = n_done = n_hopeless = n_running = n_queued = 0
    # each row's changes below depend on that row alone: one pass keeps every group in table order
    for row in range(size):
        s = state[row]
        if s == 1 and decide_at[row] <= now:  # HELD, the backoff is over
            s = 0
            state[row] = 0
        if s == 0:  # DECIDE
            if deadline[row] <= now:
                late[n_late] = row
                late_outcome[n_late] = 1 if attempts[row] > 0 else 2  # REJECTED, HOLD_DROP
                n_late += 1
                state[row] = -1
        elif s == 4:  # RUNNING
            if now + return_latency[row] > deadline[row]:
                overrun[n_overrun] = row
                n_overrun += 1
                state[row] = -1
            elif finish_at[row] <= now:
                done[n_done] = row
                n_done += 1
                state[row] = -1
            else:
                running[n_running] = row
                n_running += 1
        elif s == 2 or s == 3:  # TRANSIT (queued once it arrives), QUEUED
            if s == 2 and ready_at[row] <= now:
                s = 3
                state[row] = 3
            if s == 3:
                if now + np.ceil(nominal[row] - 1e-9) + return_latency[row] > deadline[row]:
                    hopeless[n_hopeless] = row
                    n_hopeless += 1
                    state[row] = -1
                else:
                    queued[n_queued] = row
                    n_queued += 1
    return (drop[:n_drop], extra[:n_extra], late[:n_late], late_outcome[:n_late],
            overrun[:n_overrun], done[:n_done], hopeless[:n_hopeless], running[:n_running],
            queued[:n_queued])


def _decide_kernel(deciding, state, vehicle, relative_deadline, created, decide_at, alpha,
                   fraction, thresholds, budget, t, max_backoff, n_vehicles,
                   per_step):  # pragma: no cover (numba)
    """``V2XCore._decide`` after its threshold draws, as one compiled pass: the requests
    ``deciding`` (table order) whose vehicle's ``alpha`` is below their threshold are held for
    ``max(1, ceil((1 - alpha) * max_backoff))`` steps (``state`` and ``decide_at`` written in
    place), the others are priced by ``decisions.batch_prices`` (the same float operations in the
    same order: a running sum over the bids grouped by vehicle, stable, less its value at the
    group's start; numpy's ``minimum``/``maximum`` rules). Returns the deciding requests'
    vehicles, the submitted rows and their prices, and the held requests' columns (vehicle, hold,
    alpha, requests its vehicle decided this step, relative deadline, age, budget)."""
    m = deciding.size
    decided = np.empty(m, dtype=np.int64)
    batch_of = np.zeros(n_vehicles, dtype=np.int64)
    for i in range(m):
        v = vehicle[deciding[i]]
        decided[i] = v
        batch_of[v] += 1
    submitted = np.empty(m, dtype=np.int64)
    submitted_vehicle = np.empty(m, dtype=np.int64)
    held_vehicle = np.empty(m, dtype=np.int64)
    hold = np.empty(m, dtype=np.int64)
    held_alpha = np.empty(m)
    batch = np.empty(m, dtype=np.int64)
    held_relative = np.empty(m, dtype=np.int64)
    age = np.empty(m, dtype=np.int64)
    held_budget = np.empty(m)
    n_submitted = n_held = 0
    for i in range(m):
        row = deciding[i]
        v = decided[i]
        a = alpha[v]
        if a >= thresholds[i]:
            submitted[n_submitted] = row
            submitted_vehicle[n_submitted] = v
            n_submitted += 1
            continue
        steps = np.ceil((1.0 - a) * max_backoff)
        steps_held = 1 if steps <= 1.0 else np.int64(steps)  # np.maximum(1, .).astype(int64)
        state[row] = 1  # HELD
        decide_at[row] = t + steps_held
        held_vehicle[n_held] = v
        hold[n_held] = steps_held
        held_alpha[n_held] = a
        batch[n_held] = batch_of[v]
        held_relative[n_held] = relative_deadline[row]
        age[n_held] = t + 1 - created[row]
        held_budget[n_held] = budget[v]
        n_held += 1
    prices = np.empty(n_submitted)
    raw = np.empty(n_submitted)
    for i in range(n_submitted):
        v = submitted_vehicle[i]
        raw[i] = fraction[v] * budget[v]
    if not per_step:
        for i in range(n_submitted):
            cap = budget[submitted_vehicle[i]]
            prices[i] = raw[i] if raw[i] <= cap or np.isnan(raw[i]) else cap
    else:
        order = np.argsort(submitted_vehicle[:n_submitted], kind="mergesort")  # stable
        total = 0.0
        group = -1
        group_start = 0.0
        for rank in range(n_submitted):
            i = order[rank]
            total = raw[i] if rank == 0 else total + raw[i]
            spent_before = total - raw[i]
            v = submitted_vehicle[i]
            if v != group:
                group = v
                group_start = spent_before
            room = budget[group] - (spent_before - group_start)
            capped = raw[i] if raw[i] <= room or np.isnan(raw[i]) else room
            prices[i] = capped if capped >= 0.0 or np.isnan(capped) else 0.0
    return (decided, submitted[:n_submitted], prices, held_vehicle[:n_held], hold[:n_held],
            held_alpha[:n_held], batch[:n_held], held_relative[:n_held], age[:n_held],
            held_budget[:n_held])


def _transit_kernel(state, site, amount, n_sites):  # pragma: no cover (numba)
    """The requests in transit (``V2XCore._view_used``): their count and, per site, the sum of
    their amounts in numpy's order (``numpy_order_sum`` of each site's amounts, table order)."""
    sums = np.zeros(n_sites)
    terms = np.empty(state.size)
    total = 0
    for s in range(n_sites):
        count = 0
        for row in range(state.size):
            if state[row] == 2 and site[row] == s:  # TRANSIT
                terms[count] = amount[row]
                count += 1
        sums[s] = numpy_order_sum(terms, count)
        total += count
    return sums, total


def _spawn_kernel(start, vehicle, stype, relative, data_up, data_down, first_uid, now, budget,
                  chain_length, reference_deadline, arrival_rate, weight, table_uid,
                  table_vehicle, table_stype, table_relative, table_created, table_deadline,
                  table_value, table_state, table_decide_at, table_site, table_data_up,
                  table_data_down):  # pragma: no cover (numba)
    """The appends of ``V2XCore._spawn`` as one compiled pass, once ``arrival_rate`` has decayed:
    the arrival-rate estimate gains ``weight`` per new request of each vehicle (``weight * count``
    added once per vehicle, as numpy's ``+=`` of the weighted counts), and the new requests are
    written to rows ``start, start + 1, ...`` of the table's columns, each value the float64 of
    the numpy path (``arrivals.bid_values``: the same expression, evaluated in the same order);
    ``data_up``/``data_down`` empty: left at the table's default 0. Returns False, having
    written nothing, if a vehicle or service type is out of range or a deadline is not positive
    (the numpy path then raises its own error)."""
    count = vehicle.size
    for i in range(count):
        if not (0 <= vehicle[i] < arrival_rate.size and 0 <= stype[i] < chain_length.size
                and relative[i] > 0):
            return False
    new_of = np.zeros(arrival_rate.size, dtype=np.int64)
    for i in range(count):
        new_of[vehicle[i]] += 1
    for v in range(arrival_rate.size):
        arrival_rate[v] += weight * new_of[v]
    with_data = data_up.size > 0
    for i in range(count):
        row = start + i
        v = vehicle[i]
        q = relative[i]
        table_uid[row] = first_uid + i
        table_vehicle[row] = v
        table_stype[row] = stype[i]
        table_relative[row] = q
        table_created[row] = now
        table_deadline[row] = now + q
        table_value[row] = budget[v] * (0.75 + 0.25 * (reference_deadline / q)
                                        * (chain_length[stype[i]] / 2.0))
        table_state[row] = 0  # DECIDE
        table_decide_at[row] = now
        table_site[row] = -1
        if with_data:
            table_data_up[row] = data_up[i]
            table_data_down[row] = data_down[i]
    return True


def _counts_kernel(state, vehicle, n_vehicles):  # pragma: no cover (numba)
    """``V2XCore.counts`` as one loop (numba): per vehicle, requests deciding, held, in service;
    and the requests in transit (``V2XCore.transit_count``)."""
    counts = np.zeros((n_vehicles, 3), dtype=np.int64)
    transit = 0
    for row in range(state.size):
        if state[row] >= 0:
            counts[vehicle[row], min(state[row], 2)] += 1
            if state[row] == 2:  # TRANSIT
                transit += 1
    return counts, transit


def _start_kernel(site, amount, running, queued, site_capacity):  # pragma: no cover (numba)
    """The site loop of ``V2XCore._start_runs`` without its draws: per site, the queued requests
    that start (first in first out, while their cumulative amount fits the room the running ones
    leave), the amount running once they start and the amount committed (running plus still
    waiting). Every sum in numpy's order (``numpy_order_sum``; the cumulative one sequential, as
    ``np.cumsum``). Returns the starting rows (site by site, table order within a site) and the
    running and committed amounts per site."""
    n_sites = site_capacity.size
    starts = np.empty(queued.size, dtype=np.int64)
    n_starts = 0
    in_use = np.empty(n_sites)
    committed = np.empty(n_sites)
    terms = np.empty(max(running.size, queued.size))
    for s in range(n_sites):
        count = 0
        for row in running:
            if site[row] == s:
                terms[count] = amount[row]
                count += 1
        used = numpy_order_sum(terms, count)
        room = site_capacity[s] - used + 1e-9
        cumulative = 0.0
        count = 0
        for row in queued:  # the head of the site's queue, up to its first misfit
            if site[row] == s:
                cumulative += amount[row]
                if not cumulative <= room:  # (as numpy's comparison: NaN misfits)
                    break
                starts[n_starts] = row
                n_starts += 1
                terms[count] = amount[row]
                count += 1
        used += numpy_order_sum(terms, count)
        started = count
        count = 0
        for row in queued:  # the rest of the site's queue waits
            if site[row] == s:
                if started > 0:
                    started -= 1
                else:
                    terms[count] = amount[row]
                    count += 1
        in_use[s] = used
        committed[s] = used + numpy_order_sum(terms, count)
    return starts[:n_starts], in_use, committed


def _before(bid_a, key_a, bid_b, key_b):  # pragma: no cover (numba)
    """Ranking order of ``second_price_ranking``: the higher bid first, equal bids by the higher
    tie key (``key``: the draw, or minus the position for first in first out)."""
    return bid_a > bid_b or (bid_a == bid_b and key_a > key_b)


def _auction_kernel(type_order, stype, bids, keys, fifo, capacity, used, slot_amount, slot_cost,
                    last_price, last_bid_count, last_admitted_count):  # pragma: no cover (numba)
    """The auction loop of ``V2XCore._auction`` (its Python twin) as one compiled pass: per
    service type in ``type_order``, the ranking and price of ``second_price_ranking`` (tie keys
    ``keys``: the draws of the step's auctions one after the other, as ``second_price_ranking``
    draws them; ``fifo``: ties by position), then ``sites.rial_choice`` for each winner, highest
    bid first. ``used`` (the ACA's view) and the ``last_*`` arrays are updated in place. Returns
    won, paid, the submissions auction by auction, the winners (positions, sites, types) in order
    of admission, the winners per auction with winners, and -1 (else the type whose winner RIAL
    found no room for)."""
    n_bids = bids.size
    won = np.zeros(n_bids, dtype=np.bool_)
    paid = np.zeros(n_bids)
    auction_order = np.empty(n_bids, dtype=np.int64)
    admitted = np.empty(n_bids, dtype=np.int64)
    admitted_site = np.empty(n_bids, dtype=np.int64)
    admitted_type = np.empty(n_bids, dtype=np.int64)
    batch_sizes = np.empty(type_order.size, dtype=np.int64)
    members = np.empty(n_bids, dtype=np.int64)
    ranking = np.empty(n_bids, dtype=np.int64)
    n_order = n_admitted = n_batches = drawn = 0
    for k in type_order:
        m = 0
        for position in range(n_bids):  # table order, i.e. arrival order
            if stype[position] == k:
                members[m] = position
                m += 1
        if m == 0:
            continue
        n_slots = 0
        for s in range(capacity.size):  # slots site by site, capped: only "more than m" matters
            free = capacity[s] - used[s]
            if free < 0.0:  # max(free, 0.0)
                free = 0.0
            slots = free / slot_amount[s, k] + 1e-9
            n_slots += m + 1 if slots >= m + 1 else int(slots)
        for j in range(m):  # a stable insertion sort by (-bid, -key)
            key = -float(j) if fifo else keys[drawn + j]
            i = j
            while i > 0:
                other = ranking[i - 1]
                other_key = -float(other) if fifo else keys[drawn + other]
                if not _before(bids[members[j]], key, bids[members[other]], other_key):
                    break
                ranking[i] = other
                i -= 1
            ranking[i] = j
        if not fifo:
            drawn += m
        price = bids[members[ranking[n_slots]]] if m > n_slots else 0.0
        n_winners = min(n_slots, m)
        for j in range(m):
            auction_order[n_order] = members[j]
            n_order += 1
        last_bid_count[k] = m
        last_admitted_count[k] = n_winners
        if n_winners == 0:  # the price to beat is the highest bid when there was no slot
            highest = bids[members[0]]
            for j in range(1, m):
                highest = max(highest, bids[members[j]])
            last_price[k] = highest if n_slots == 0 else 0.0
            continue
        last_price[k] = price
        # the winners highest bid first, equal bids in table order: re-sorted by (-bid, position)
        for w in range(n_winners):
            j = ranking[w]
            won[members[j]] = True
            paid[members[j]] = price
            i = w
            while i > 0 and _before(bids[members[j]], -float(j), bids[members[ranking[i - 1]]],
                                    -float(ranking[i - 1])):
                ranking[i] = ranking[i - 1]
                i -= 1
            ranking[i] = j
        for w in range(n_winners):
            site = rial_choice(used, capacity, slot_amount[:, k], slot_cost[:, k])
            if site < 0:  # cannot happen: n_slots counts the room site by site
                return (won, paid, auction_order, admitted[:0], admitted_site[:0],
                        admitted_type[:0], batch_sizes[:0], k)
            used[site] += slot_amount[site, k]
            admitted[n_admitted] = members[ranking[w]]
            admitted_site[n_admitted] = site
            admitted_type[n_admitted] = k
            n_admitted += 1
        batch_sizes[n_batches] = n_winners
        n_batches += 1
    return (won, paid, auction_order, admitted[:n_admitted], admitted_site[:n_admitted],
            admitted_type[:n_admitted], batch_sizes[:n_batches], -1)


def _bid_events_kernel(submitted, order, prices, won, paid, attempts, vehicle, value, budget,
                       max_rebids):  # pragma: no cover (numba)
    """``V2XCore._auction_events`` after the compiled auction, as one pass: each submission's
    attempt counted (``attempts`` in place), the bids' columns in auction order (``order``), and
    the losers out of rebids, in submission order (rows to close as rejected)."""
    n = submitted.size
    count = np.empty(n, dtype=np.int64)
    n_out = 0
    out = np.empty(n, dtype=np.int64)
    for j in range(n):
        row = submitted[j]
        attempts[row] += 1
        count[j] = attempts[row]
        if not won[j] and count[j] > max_rebids:
            out[n_out] = row
            n_out += 1
    bid_vehicle = np.empty(n, dtype=np.int64)
    bid_price = np.empty(n)
    bid_value = np.empty(n)
    bid_won = np.empty(n, dtype=np.bool_)
    bid_paid = np.empty(n)
    rebid = np.empty(n, dtype=np.bool_)
    bid_budget = np.empty(n)
    for i in range(n):
        j = order[i]
        row = submitted[j]
        v = vehicle[row]
        bid_vehicle[i] = v
        bid_price[i] = prices[j]
        bid_value[i] = value[row]
        bid_won[i] = won[j]
        bid_paid[i] = paid[j]
        rebid[i] = count[j] > 1
        bid_budget[i] = budget[v]
    return bid_vehicle, bid_price, bid_value, bid_won, bid_paid, rebid, bid_budget, out[:n_out]


# without numba the numpy path of ``V2XCore._auction_events`` runs
_compiled_bid_events = compiled_on_first_use(_bid_events_kernel)

# without numba the numpy path of ``V2XCore._decide`` runs
_compiled_decide = compiled_on_first_use(_decide_kernel)

# without numba the numpy path of ``V2XCore._view_used`` runs
_compiled_transit = compiled_on_first_use(_transit_kernel, NUMPY_ORDER_SUM)

# without numba the numpy path of ``V2XCore._spawn`` runs
_compiled_spawn = compiled_on_first_use(_spawn_kernel)

# without numba the numpy path of ``V2XCore.counts`` runs
_compiled_counts = compiled_on_first_use(_counts_kernel)

# without numba (the ``fast`` extra) the numpy path (``V2XCore._advance_held``,
# ``_advance_sites``) runs
_compiled_advance = compiled_on_first_use(_advance_kernel)

# without numba the numpy path of ``V2XCore._start_runs`` runs
_compiled_start = compiled_on_first_use(_start_kernel, NUMPY_ORDER_SUM)

# without numba the Python loop of ``V2XCore._auction`` runs; the compiled pass runs
# ``sites.rial_choice`` itself (and its ``rial_price``)
_compiled_auction = compiled_on_first_use(_auction_kernel, (_before, rial_price, rial_choice))
