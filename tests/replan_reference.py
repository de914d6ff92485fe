"""An independent reference for planner.replan: brute force over the integer decisions of tiny
scenarios (tests/test_replan_reference.py).

Nothing here uses the planner's model, inputs or decision code. A :class:`Mini` describes a
scenario in plain Python (one equipment, at most one specialty, a travel table giving every
zone-site pair); :func:`Mini.scenario` writes it as the planner's tables, and this module
recomputes from the same description:

* feasibility of an assignment of the integer decisions (new units, relocations, outreach days),
  with the rules of docs/design.md section 5 and the commitments of section 7;
* its cheapest annual cost (the exact objective of section 5): the fixed-decision terms plus,
  per service, a transportation LP (flows zone -> site within capacity and `max_minutes`,
  the rest referred out) solved with scipy's linprog;
* the changes from a baseline (sum |after - before| over all decisions, a baseline decision the
  scenario cannot take counting in full).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linprog

EQ = "CT"
SPEC = "cardiology"


@dataclass(frozen=True)
class Mini:
    """A tiny scenario. `sites`: (site_id, member, tier, lon, lat); `zones`: zone_id ->
    population; `minutes`: (zone, site) -> one-way minutes for every pair; `conditions`:
    (condition, cases_per_1000, urgent_minutes or None, units of CT per case, visits of the
    specialty per case) with the urgent service CT."""

    sites: tuple
    zones: tuple                       # ((zone_id, population), ...)
    minutes: tuple                     # (((zone, site), minutes), ...)
    conditions: tuple
    budget: float
    discount_rate: float = 0.05
    value_per_minute: float = 1.0
    # the equipment
    capex: float = 1000.0
    lifetime: float = 8.0
    opex: float = 100.0
    capacity: float = 10_000.0
    max_utilization: float = 0.8
    cost_per_exam: float = 2.0
    referral_cost: float = 80.0
    allowed_tiers: tuple = ("township",)
    max_per_site: int = 2
    max_minutes: float = math.inf
    relocation_cost: float | None = None
    existing: tuple = ()               # ((site, units), ...)
    # the specialty (it always exists; no pool means no outreach days)
    visits_per_day: float = 10.0
    cost_per_day: float = 100.0
    spec_referral_cost: float = 30.0
    spec_max_minutes: float = math.inf
    pool: tuple = ()                   # ((site, days), ...)
    clinic: tuple = ()                 # ((site, visits per year), ...)
    min_days: int = 0                  # policy minimum at grassroots (township) sites
    grassroots_tiers: tuple = ("township",)
    implemented: tuple = ()            # ((decision, site, resource, from_site, amount, limit), ...)
    name: str = "mini"

    # --- the description, as dicts -------------------------------------------------------------
    @property
    def site_ids(self) -> list[str]:
        return [s[0] for s in self.sites]

    @property
    def tier(self) -> dict[str, str]:
        return {s[0]: s[2] for s in self.sites}

    @property
    def t(self) -> dict[tuple[str, str], float]:
        return dict(self.minutes)

    @property
    def population(self) -> dict[str, float]:
        return dict(self.zones)

    @property
    def existing_units(self) -> dict[str, int]:
        return {i: int(n) for i, n in self.existing if n > 0}

    @property
    def total_pool(self) -> int:
        return int(sum(d for _, d in self.pool))

    def demand(self, service: str) -> dict[str, float]:
        """D[z, service] = population / 1000 * sum_c rate_c * units_per_case."""
        col = 3 if service == EQ else 4
        return {z: p / 1000.0 * sum(c[1] * c[col] for c in self.conditions)
                for z, p in self.zones}

    @property
    def annuity(self) -> float:
        r, life = self.discount_rate, self.lifetime
        return 1.0 / life if r == 0 else r / (1.0 - (1.0 + r) ** -life)

    # --- variants ---------------------------------------------------------------------------------
    def replace(self, **changes) -> Mini:
        from dataclasses import replace
        return replace(self, **changes)

    def grown(self, growth: dict[str, float]) -> Mini:
        """Populations multiplied by (1 + growth[zone])."""
        return self.replace(zones=tuple((z, p * (1.0 + growth.get(z, 0.0)))
                                        for z, p in self.zones))

    def renamed(self, old: str, new: str) -> Mini:
        """Site `old` is called `new` (sites, travel, resources)."""
        def ren(i):
            return new if i == old else i
        return self.replace(
            sites=tuple((ren(s[0]), *s[1:]) for s in self.sites),
            minutes=tuple(((z, ren(i)), m) for (z, i), m in self.minutes),
            existing=tuple((ren(i), n) for i, n in self.existing),
            pool=tuple((ren(i), d) for i, d in self.pool),
            clinic=tuple((ren(i), v) for i, v in self.clinic))

    # --- the planner's scenario -------------------------------------------------------------------
    def scenario(self, mip_gap: float = 0.0):
        import toy
        from planner.scenario.loading import from_tables

        members = sorted({s[1] for s in self.sites})
        grass = {s[0]: s[1] for s in self.sites if s[2] in self.grassroots_tiers}
        t = self.t
        home = {z: grass[min(grass, key=lambda i: (t[(z, i)], i))] if grass else members[0]
                for z, _ in self.zones}
        resources = ([(i, EQ, float(n)) for i, n in self.existing]
                     + [(i, f"{SPEC}.outreach_days", float(d)) for i, d in self.pool]
                     + [(i, f"{SPEC}.clinic_visits", float(v)) for i, v in self.clinic])
        eq = {"equipment": [EQ], "capex": [self.capex], "lifetime_years": [self.lifetime],
              "opex_per_year": [self.opex], "capacity_per_year": [self.capacity],
              "referral_cost": [self.referral_cost], "max_utilization": [self.max_utilization],
              "cost_per_exam": [self.cost_per_exam],
              "allowed_tiers": [";".join(self.allowed_tiers)],
              "max_per_site": [self.max_per_site],
              "max_minutes": [None if math.isinf(self.max_minutes) else self.max_minutes],
              "relocation_cost": [self.relocation_cost]}
        cs = ([(c[0], EQ, float(c[3])) for c in self.conditions if c[3] > 0]
              + [(c[0], SPEC, float(c[4])) for c in self.conditions if c[4] > 0])
        tables = {
            "members": pd.DataFrame({"member": members, "name": members,
                                     "budget_contribution": 0.0}),
            "sites": pd.DataFrame([(s[0], s[0], s[1], s[2], s[3], s[4]) for s in self.sites],
                                  columns=["site_id", "name", "member", "tier", "lon", "lat"]),
            "zones": pd.DataFrame([(z, 119.0, 32.7, p, home[z]) for z, p in self.zones],
                                  columns=["zone_id", "lon", "lat", "population",
                                           "home_member"]),
            "conditions": pd.DataFrame(
                [(c[0], c[1], EQ if c[2] is not None else None, c[2]) for c in self.conditions],
                columns=["condition", "cases_per_1000", "urgent_service", "urgent_minutes"]),
            "condition_services": pd.DataFrame(cs, columns=["condition", "service",
                                                            "units_per_case"]),
            "equipment": pd.DataFrame(eq),
            "specialties": pd.DataFrame({
                "specialty": [SPEC], "visits_per_day": [self.visits_per_day],
                "cost_per_day": [self.cost_per_day], "referral_cost": [self.spec_referral_cost],
                "max_minutes": [None if math.isinf(self.spec_max_minutes)
                                else self.spec_max_minutes]}),
            "resources": pd.DataFrame(resources, columns=["site_id", "resource", "amount"]),
            "travel": toy.travel(self.t),
        }
        if self.implemented:
            tables["implemented"] = pd.DataFrame(
                [(d, i or None, k, f or None, a, lim) for d, i, k, f, a, lim in self.implemented],
                columns=["decision", "site_id", "resource", "from_site", "amount", "limit"])
        settings = toy.settings(
            name=self.name, discount_rate=self.discount_rate, budget=self.budget,
            travel={"value_per_minute": self.value_per_minute},
            policy={"grassroots_tiers": list(self.grassroots_tiers),
                    "min_outreach_days": {SPEC: self.min_days} if self.min_days else {}},
            solver={"mip_gap": mip_gap})
        return from_tables(settings, tables, self.name)

    # --- the reference ----------------------------------------------------------------------------
    @property
    def reference(self) -> Reference:
        """The brute force, computed once per distinct description."""
        if self not in _REFERENCES:
            _REFERENCES[self] = Reference(self)
        return _REFERENCES[self]


_REFERENCES: dict[Mini, Reference] = {}


def decision_key(decision: str, site: str, resource: str, from_site: str = "") -> tuple:
    return (decision, site, resource, from_site or "")


def as_decisions(frame: pd.DataFrame | None) -> dict[tuple, int]:
    """{(decision, site_id, resource, from_site): amount} of a decisions table (non-zero)."""
    if frame is None:
        return {}
    out: dict[tuple, int] = {}
    for row in frame.itertuples(index=False):
        from_site = row.from_site if isinstance(row.from_site, str) else ""
        key = decision_key(row.decision, row.site_id, row.resource, from_site)
        out[key] = out.get(key, 0) + int(round(float(row.amount)))
    return {k: v for k, v in out.items() if v != 0}


def changes_between(before: dict[tuple, int], after: dict[tuple, int]) -> int:
    return int(sum(abs(after.get(k, 0) - before.get(k, 0)) for k in set(before) | set(after)))


@dataclass
class Reference:
    """Every feasible assignment of the integer decisions of `mini`, with its annual cost."""

    mini: Mini
    assignments: list[tuple[dict, float]] = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.assignments = [(d, c) for d in self._enumerate()
                            if (c := self.cost(d)) is not None]
        assert self.assignments, "the reference finds no feasible plan"

    # --- enumeration ------------------------------------------------------------------------------
    def _enumerate(self):
        m = self.mini
        sites = m.site_ids
        allowed = [i for i in sites if m.tier[i] in m.allowed_tiers]
        moves = ([(i, j) for i, n in m.existing_units.items() for j in allowed if j != i]
                 if m.relocation_cost is not None else [])
        new_ranges = [range(m.max_per_site + 1) for _ in allowed]
        move_ranges = [range(m.existing_units[i] + 1) for i, _ in moves]
        day_vectors = [v for v in itertools.product(range(m.total_pool + 1), repeat=len(sites))
                       if sum(v) <= m.total_pool]
        for new in itertools.product(*new_ranges):
            for moved in itertools.product(*move_ranges):
                for days in day_vectors:
                    d = {decision_key("new_units", i, EQ): n for i, n in zip(allowed, new)}
                    d.update({decision_key("relocated", j, EQ, i): n
                              for (i, j), n in zip(moves, moved)})
                    d.update({decision_key("outreach_days", i, SPEC): n
                              for i, n in zip(sites, days)})
                    yield {k: v for k, v in d.items() if v}

    # --- one assignment ---------------------------------------------------------------------------
    def units(self, d: dict[tuple, int]) -> dict[str, int]:
        m = self.mini
        units = {i: m.existing_units.get(i, 0) for i in m.site_ids}
        for (kind, i, _, f), n in d.items():
            if kind == "new_units":
                units[i] += n
            elif kind == "relocated":
                units[i] += n
                units[f] -= n
        return units

    def feasible(self, d: dict[tuple, int]) -> bool:
        m = self.mini
        sites, tier = m.site_ids, m.tier
        moved_out = {i: 0 for i in sites}
        for (kind, i, k, f), n in d.items():
            if n < 0 or i not in sites:
                return False
            if kind in ("new_units", "relocated"):
                if k != EQ or tier[i] not in m.allowed_tiers:
                    return False
            if kind == "relocated":
                if m.relocation_cost is None or f == i or f not in sites:
                    return False
                moved_out[f] += n
            if kind == "outreach_days" and k != SPEC:
                return False
        if any(moved_out[i] > m.existing_units.get(i, 0) for i in sites):
            return False  # only existing units move, each at most once
        units = self.units(d)
        if any(u < 0 or u > m.max_per_site for u in units.values()):
            return False
        capital = sum(n * (m.capex if kind == "new_units" else m.relocation_cost)
                      for (kind, *_), n in d.items() if kind != "outreach_days")
        if capital > m.budget + 1e-9:
            return False
        days = {i: d.get(decision_key("outreach_days", i, SPEC), 0) for i in sites}
        if sum(days.values()) > m.total_pool:
            return False
        if m.min_days and any(days[i] < m.min_days for i in sites
                              if tier[i] in m.grassroots_tiers):
            return False
        for c in m.conditions:   # urgent coverage: counted in units in service
            if c[2] is None:
                continue
            for z, pop in m.zones:
                if pop > 0 and sum(units[i] for i in sites if m.t[(z, i)] <= c[2]) < 1:
                    return False
        for kind, i, k, f, amount, limit in m.implemented:   # commitments
            x = d.get(decision_key(kind, i, k, f), 0)
            if (limit or "at_least") == "at_least" and x < amount:
                return False
            if limit == "at_most" and x > amount:
                return False
        return True

    def cost(self, d: dict[tuple, int]) -> float | None:
        """The exact annual cost of the cheapest plan with these decisions (None: infeasible)."""
        if not self.feasible(d):
            return None
        m = self.mini
        units = self.units(d)
        fixed = 0.0
        for (kind, *_), n in d.items():
            fixed += n * {"new_units": m.capex * m.annuity, "relocated": m.relocation_cost or 0.0,
                          "outreach_days": m.cost_per_day}[kind]
        fixed += sum(units.values()) * m.opex
        days = tuple(d.get(decision_key("outreach_days", i, SPEC), 0) for i in m.site_ids)
        return (fixed + self._equipment_service(tuple(units[i] for i in m.site_ids))
                + self._specialty_service(days))

    def _equipment_service(self, units: tuple) -> float:
        if units in self._cache:
            return self._cache[units]
        m = self.mini
        cap = {i: m.capacity * m.max_utilization * u for i, u in zip(m.site_ids, units)}
        value = transport(m.demand(EQ), cap, m.t, m.max_minutes,
                          m.value_per_minute, m.cost_per_exam, m.referral_cost)
        self._cache[units] = value
        return value

    def _specialty_service(self, days: tuple) -> float:
        if ("days", days) in self._cache:
            return self._cache[("days", days)]
        m = self.mini
        clinic = dict(m.clinic)
        cap = {i: m.visits_per_day * n + clinic.get(i, 0.0) for i, n in zip(m.site_ids, days)}
        value = transport(m.demand(SPEC), cap, m.t, m.spec_max_minutes,
                          m.value_per_minute, 0.0, m.spec_referral_cost)
        self._cache[("days", days)] = value
        return value

    # --- the answers ------------------------------------------------------------------------------
    @property
    def optimum(self) -> float:
        return min(c for _, c in self.assignments)

    def ceiling(self, tolerance: float) -> float:
        return (1.0 + tolerance) * self.optimum * (1.0 + 1e-9)

    def candidates(self, tolerance: float) -> list[tuple[dict, float]]:
        ceiling = self.ceiling(tolerance)
        return [(d, c) for d, c in self.assignments if c <= ceiling]

    def fewest_changes(self, baseline: dict[tuple, int], tolerance: float) -> int:
        return min(changes_between(baseline, d) for d, _ in self.candidates(tolerance))

    def clear_threshold(self, tolerance: float, rel: float = 1e-7) -> bool:
        """No plan's cost lies so near the ceiling (1 + R) C* that rounding could decide whether
        it is in (plans at C* itself are always in)."""
        if tolerance == 0:
            return True
        ceiling = (1.0 + tolerance) * self.optimum
        return all(abs(c - ceiling) > rel * ceiling for _, c in self.assignments)


def transport(demand: dict[str, float], capacity: dict[str, float], minutes: dict,
              max_minutes: float, value_per_minute: float, cost_per_unit: float,
              referral_cost: float) -> float:
    """min sum f[z,i] (t[z,i] value_per_minute + cost_per_unit) + sum u[z] referral_cost
    s.t. sum_i f[z,i] + u[z] = D[z], sum_z f[z,i] <= capacity[i], f only where t <= max_minutes
    and the site has capacity."""
    zones = [z for z, q in demand.items() if q > 0]
    arcs = [(z, i) for z in zones for i, c in capacity.items()
            if c > 0 and minutes[(z, i)] <= max_minutes]
    n = len(arcs) + len(zones)
    if not zones:
        return 0.0
    cost = np.array([minutes[a] * value_per_minute + cost_per_unit for a in arcs]
                    + [referral_cost] * len(zones))
    a_eq = np.zeros((len(zones), n))
    for k, (z, _) in enumerate(arcs):
        a_eq[zones.index(z), k] = 1.0
    for r in range(len(zones)):
        a_eq[r, len(arcs) + r] = 1.0
    b_eq = np.array([demand[z] for z in zones])
    sites = sorted({i for _, i in arcs})
    a_ub = np.zeros((len(sites), n))
    for k, (_, i) in enumerate(arcs):
        a_ub[sites.index(i), k] = 1.0
    b_ub = np.array([capacity[i] for i in sites])
    res = linprog(cost, A_ub=a_ub if sites else None, b_ub=b_ub if sites else None,
                  A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    assert res.status == 0, res.message
    return float(res.fun)
