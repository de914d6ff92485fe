"""The radius (covering) formulation of the p-median against the planner's standard formulation,
on OR-Library pmed instances (issue 22 item 3).

    python benchmarks/bench_radius.py --instances 1-40 --time-limit 60 [--csv rows.csv]
    python benchmarks/bench_radius.py --instances 16,21 --standard     # also the planner

The radius formulation (Elloumi 2010; García, Labbé & Marín 2011, INFORMS J. Computing 23(4)
"Solving large p-median problems with a radius formulation"): per zone z the sorted distinct
distances D_z1 < ... < D_zG to the sites, a continuous u_zk >= 0 that is 1 when no open site is
within D_zk, and

    min  sum_z w_z (D_z1 + sum_k (D_z(k+1) - D_zk) u_zk)
    s.t. u_zk + sum_{i: d_zi <= D_zk} y_i >= 1     (z, k)
         sum_i y_i = p,  y binary.

Written here in its chained, sparse form: u_z1 + sum_{i: d_zi = D_z1} y_i >= 1 and
u_zk - u_z(k-1) + sum_{i: d_zi = D_zk} y_i >= 0. The chained rows imply the dense ones (by
induction on k) and the least u of the dense rows, u_zk = max(0, 1 - sum_{d_zi <= D_zk} y_i),
satisfies them, so with positive costs both have the same optimum and the same LP bound; each
zone then holds n + 2G nonzeros instead of up to n G. Reduction (García et al.): exactly p of the
n sites are open, so at most n - p are closed and a level whose ball holds n - p + 1 sites or
more always holds an open one: its u and every later u are 0 and are not written.

The standard formulation is the planner's own (`planner.solve`'s route with the radius route
switched off, the greedy start on by size), run with `--standard` on the same instance and the
same options; the objective of the planner is p + the p-median (each unit costs 1 a year).
Since the planner takes the radius route itself for such scenarios (planner/model/radius.py),
`planner.solve(load_pmed(...))` measures it end to end.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp
from bench_pmed import parse_instances

from planner.model.highs import apply_options, new_highs, run, status_of
from planner.model.inputs import model_inputs
from planner.model.start import construction_start
from planner.planning.session import PlanningSession, solver_options
from planner.scenario.orlib import load_pmed, read_pmed

ORLIB = Path(__file__).resolve().parent / "orlib"
OPTIMA = pd.read_csv(ORLIB / "pmedopt.csv").set_index("instance")


def radius_lp(distances: np.ndarray, p: int, weights: np.ndarray | None = None
              ) -> tuple[highspy.HighsLp, int, dict]:
    """The radius formulation of the p-median of a zones x sites matrix (finite entries): the
    HighsLp (columns y_0..y_{n-1} then the u of each zone, level by level), the number of y
    columns, and its size."""
    zones, n = distances.shape
    weights = np.ones(zones) if weights is None else np.asarray(weights, float)
    rows, cols, vals, lower, costs = [], [], [], [], [np.zeros(n)]
    offset, next_col, next_row = 0.0, n, 0
    for z in range(zones):
        levels, level_of = np.unique(distances[z], return_inverse=True)
        within = np.cumsum(np.bincount(level_of, minlength=len(levels)))
        # the first level whose ball holds n - p + 1 sites: from it on u = 0 (not written)
        kept = int(np.searchsorted(within, n - p + 1))        # levels 0..kept-1 have a u
        offset += weights[z] * levels[0]
        if kept == 0:
            continue
        u = next_col + np.arange(kept)
        k = np.arange(kept)
        costs.append(weights[z] * (levels[1:kept + 1] - levels[:kept]))
        # row k: u_k (+1), u_{k-1} (-1, k >= 1), y_i (+1) for the sites at level k
        sites = np.nonzero(level_of < kept)[0]
        rows += [next_row + k, next_row + k[1:], next_row + level_of[sites]]
        cols += [u, u[:-1], sites]
        vals += [np.ones(kept), -np.ones(kept - 1), np.ones(len(sites))]
        lower.append(np.r_[1.0, np.zeros(kept - 1)])
        next_col += kept
        next_row += kept
    # the cardinality row: sum_i y_i = p
    rows.append(np.full(n, next_row))
    cols.append(np.arange(n))
    vals.append(np.ones(n))
    lower.append(np.array([float(p)]))
    num_row = next_row + 1
    matrix = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(num_row, next_col))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = next_col, num_row
    lp.col_cost_ = np.concatenate(costs)
    lp.col_lower_ = np.zeros(next_col)
    lp.col_upper_ = np.r_[np.ones(n), np.full(next_col - n, highspy.kHighsInf)]
    row_lower = np.concatenate(lower)
    row_upper = np.r_[np.full(num_row - 1, highspy.kHighsInf), float(p)]
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    lp.offset_ = offset
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = next_col, num_row
    return lp, n, {"columns": next_col, "rows": num_row, "nonzeros": int(matrix.nnz)}


def solve_radius(distances: np.ndarray, p: int, options, start_sites=None,
                 probing: bool = True) -> dict:
    """Build and solve the radius formulation (with the sites of `start_sites` open as HiGHS's
    first incumbent, when given; without presolve's probing when `probing` is False); the
    chosen sites are read back and the p-median recomputed from them (each zone to its nearest
    open site), an independent check."""
    start = time.perf_counter()
    lp, n, size = radius_lp(distances, p)
    h = new_highs()
    h.passModel(lp)
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                            np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8))
    build = time.perf_counter() - start
    cpu = time.process_time()
    seconds = _solve(h, options, n, start_sites, probing)
    cpu = time.process_time() - cpu
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2
    open_sites = np.nonzero(np.asarray(h.getSolution().col_value[:n]) > 0.5)[0]
    recomputed = float(distances[:, open_sites].min(axis=1).sum()) if has_solution else np.nan
    return {**size, "build": build, "solve": seconds, "cpu": cpu,
            "status": str(status_of(h)),
            "objective": info.objective_function_value if has_solution else np.nan,
            "bound": info.mip_dual_bound,
            "gap": info.mip_gap if np.isfinite(info.mip_gap) else np.nan,
            "nodes": int(info.mip_node_count), "lp_iterations": int(info.simplex_iteration_count),
            "recomputed": recomputed, "open": len(open_sites)}


def _solve(h: highspy.Highs, options, n: int, start_sites, probing: bool) -> float:
    """HiGHS with the options planner/model/highs.py sets (as highs_direct.solve sets them),
    presolve's probing off when asked, and the start (the n y columns: HiGHS completes the u
    by an LP) given after clearSolver; its wall seconds."""
    apply_options(h, options)
    if not probing:
        h.setOptionValue("presolve_rule_off", PROBING)
    h.clearSolver()
    if start_sites is not None:
        y = np.zeros(n)
        y[list(start_sites)] = 1.0
        h.setSolution(n, np.arange(n, dtype=np.int32), y)
    start = time.perf_counter()
    run(h, options.threads)
    return time.perf_counter() - start


PROBING = 1 << 15   # HiGHS presolve_rule_off bit of probing ("consider not using probing")


def greedy_sites(path: Path) -> tuple[list[int], float]:
    """The planner's construction start (planner/model/start.py) on the instance: the node
    positions of its units, and its seconds."""
    start = time.perf_counter()
    inp = model_inputs(load_pmed(path))
    units = construction_start(inp) or {}
    sites = list(inp.sites.index)
    return sorted(sites.index(i) for i, _ in units), time.perf_counter() - start


class StandardSession(PlanningSession):
    """planner.solve's route with the planner's own formulation (the radius route, which the
    planner takes itself for a qualifying scenario such as pmed, switched off)."""

    def _radius_plan(self, options):
        return None


def solve_standard(path: Path, p: int, time_limit: float) -> dict:
    """The planner's own formulation (its route with the greedy start), minus the p units'
    cost."""
    start, cpu = time.perf_counter(), time.process_time()
    plan = StandardSession(load_pmed(path), time_limit=time_limit).solve()
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"s_status": str(plan.status), "s_objective": plan.objective - p,
            "s_gap": plan.mip_gap, "s_build": plan.build_seconds, "s_solve": plan.solve_seconds,
            "s_total": total, "s_cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1-40")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--standard", action="store_true",
                        help="also solve each instance through the planner (standard formulation)")
    parser.add_argument("--start", action="store_true",
                        help="give the radius model the planner's greedy start as incumbent")
    parser.add_argument("--no-probing", action="store_true",
                        help="radius model: HiGHS presolve without probing")
    parser.add_argument("--csv", help="also write the rows to this CSV file")
    args = parser.parse_args()
    rows = []
    for k in parse_instances(args.instances):
        name = f"pmed{k}"
        path = ORLIB / f"{name}.txt"
        distances, p = read_pmed(path)
        options = solver_options(load_pmed(path), time_limit=args.time_limit)
        row = {"instance": name, "n": distances.shape[0], "p": p,
               "published": int(OPTIMA.at[name, "optimal"]), "load": _load()}
        start_sites = None
        if args.start:
            start_sites, row["start_seconds"] = greedy_sites(path)
        row.update(solve_radius(distances, p, options, start_sites, not args.no_probing))
        if args.standard:
            row.update(solve_standard(path, p, args.time_limit))
        rows.append(row)
        print(_format(row), flush=True)
    if args.csv:
        pd.DataFrame(rows).to_csv(args.csv, index=False)


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _format(r: dict) -> str:
    text = (f"{r['instance']:>7s} n={r['n']:4d} p={r['p']:3d} pub={r['published']:6d} | radius "
            f"{r['status']:>10s} obj={r['objective']:.0f} rec={r['recomputed']:.0f} "
            f"gap={r['gap']:.2e} build={r['build']:.2f}s solve={r['solve']:.2f}s "
            f"cpu={r['cpu']:.2f}s "
            f"nodes={r['nodes']} iters={r['lp_iterations']} cols={r['columns']} "
            f"rows={r['rows']} nnz={r['nonzeros']} load={r['load']:.2f}")
    if "start_seconds" in r:
        text += f" start={r['start_seconds']:.2f}s"
    if "s_status" in r:
        text += (f" | standard {r['s_status']:>10s} obj={r['s_objective']:.0f} "
                 f"gap={r['s_gap']:.2e} build={r['s_build']:.2f}s solve={r['s_solve']:.2f}s "
                 f"total={r['s_total']:.2f}s cpu={r['s_cpu']:.2f}s")
    return text


if __name__ == "__main__":
    main()
