"""The notebooks of notebooks/ (docs/design.md section 7) run top to bottom in a fresh kernel of
this venv, so they never rot: no cell may raise, none may print a warning, and what each one writes
is checked against facts that do not come from the notebook (the plan folder's own files, the
transfers' invariants, the sweep's monotonicity). They are committed without outputs.

Each notebook runs in a temporary working directory (files it writes land there) with
MPLBACKEND=Agg, so figures need no display.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL = "planner-test-venv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _kernel_spec(folder: Path) -> str:
    """A kernel running this interpreter (this venv), whatever kernels the user has installed;
    returns its name (found through JUPYTER_PATH)."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "planner (test venv)", "language": "python"}))
    return KERNEL


def execute(path: Path, workdir: Path, monkeypatch) -> nbformat.NotebookNode:
    """Run the notebook at `path` top to bottom in `workdir`; raises on the first failing cell."""
    jupyter = workdir.parent / f"{workdir.name}-jupyter"
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")   # jupyter_core's path migration notice
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name=_kernel_spec(jupyter),
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return notebook


def texts(notebook, stream: str | None = None) -> str:
    """The text the cells showed: printed streams and the plain-text form of results."""
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and stream in (None, out.name):
                parts.append(out.text)
            elif stream is None and out.output_type in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


# --- the committed form ------------------------------------------------------------------------
def test_the_three_uses_are_there():
    names = {p.name for p in PATHS}
    assert {"01_plan_the_county.ipynb", "02_what_if.ipynb", "03_sharing.ipynb",
            "04_fund_and_tiers.ipynb"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for k, cell in enumerate(code):
        assert cell.outputs == [], f"{path.name}: code cell {k} has outputs; strip them"
        assert cell.execution_count is None, f"{path.name}: code cell {k} has an execution count"
    assert notebook.cells[0].cell_type == "markdown", "open with a title and what it shows"


# --- executed ----------------------------------------------------------------------------------
def check_plan_the_county(notebook, workdir: Path) -> None:
    folder = workdir / "plans" / "default"
    saved = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    assert saved["status"] == "optimal"
    assert "Status: optimal" in texts(notebook)
    # the objective the notebook saved is the sum of its own ledger file, to the cent
    ledger = pd.read_csv(folder / "ledger.csv")
    assert math.isclose(ledger["amount"].sum(), saved["objective"], rel_tol=1e-9)
    decisions = pd.read_csv(folder / "decisions.csv")
    assert set(decisions["decision"]) <= {"new_units", "relocated", "outreach_days",
                                          "hired_radiologists"}
    assert (workdir / "plan.png").read_bytes()[:8] == PNG_MAGIC
    # the map and the report draw every site of the scenario (their ids are in the popups)
    import planner
    sites = planner.load_scenario(None).sites["site_id"]
    for page in (workdir / "plan_map.html", folder / "report.html"):
        html = page.read_text(encoding="utf-8")
        assert html.lstrip().lower().startswith("<!doctype html")
        assert [s for s in sites if s not in html] == []


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in the notebook's output"
    return float(found.group(1).replace(",", ""))


def check_what_if(notebook, workdir: Path) -> None:
    shown = texts(notebook)
    # a larger budget only widens the feasible set: the annual cost cannot rise with it (up to
    # the MIP gap), and no plan spends more capital than its budget
    sweep = pd.read_csv(workdir / "budget_sweep.csv")
    assert (sweep["status"] == "optimal").all()
    assert sweep["budget"].is_monotonic_increasing
    assert (sweep["objective"].diff().dropna() <= 1e-4 * sweep["objective"].max()).all()
    assert (sweep["capital_used"] <= sweep["budget"] + 1e-6).all()
    # likewise the covered population along the front, in the order of the budgets given
    front = pd.read_csv(workdir / "pareto.csv")
    assert list(front["budget"]) == [13e6, 16e6, 20e6, 24e6]
    assert (front["status"] == "optimal").all()
    assert front["covered_population"].is_monotonic_increasing
    assert (front["capital_used"] <= front["budget"] + 1e-6).all()
    # the front's point at the full budget is the coverage goal solved on its own (2.3)
    goal = _number(r"'kind': 'coverage'.*?'value': ([\d.]+)", shown)
    assert front["covered_population"].iloc[-1] == pytest.approx(goal, abs=0.5)
    # each goal beats the least-cost plan on its own measure
    least = _number(r"least-cost plan: ([\d.]+)% of residents", shown)
    assert _number(r"coverage goal: +([\d.]+)% of residents", shown) >= least
    worst_before = _number(r"least-cost plan ([\d.]+) min", shown)
    shortest = _number(r"worst-minutes plan ([\d.]+) min", shown)
    assert shortest <= worst_before
    # the equity limits against the worst-minutes goal: 25 min is met, and costs no more than
    # the worst-minutes plan (which meets it); 20 min is explained as infeasible, so the
    # shortest worst trip must be above 20 min
    assert _number(r"worst trip to a CT under the limit: ([\d.]+) min", shown) <= 25.0
    costs = re.search(r"annual cost: ([\d,]+) -> ([\d,]+) CNY \(\+[\d,]+\)\n"
                      r"residents within 20", shown)
    fair = re.search(r"worst-minutes plan.*\nannual cost: [\d,]+ -> ([\d,]+) CNY", shown)
    assert costs and fair
    assert float(costs.group(2).replace(",", "")) <= float(fair.group(1).replace(",", "")) + 1
    assert "access guarantee for CT within 20 min" in shown
    assert shortest > 20.0
    # an MRI costs 5.9 M: under the 14 M budget the site that got one in the 24 M plan has one
    # unit fewer, and the comparison map's popups say so ("MRI: 2 -> 1", escaped in the page)
    html = (workdir / "comparison_map.html").read_text(encoding="utf-8")
    changes = [(int(a), int(b)) for a, b in re.findall(r"MRI: (\d+) -\\u003e (\d+)", html)]
    assert [c for c in changes if c[0] != c[1]] == [(2, 1)], changes
    for name in ("budget_sweep.png", "pareto.png"):
        assert (workdir / name).read_bytes()[:8] == PNG_MAGIC


def check_sharing(notebook, workdir: Path) -> None:
    folder = workdir / "sharing" / "slice"
    result = json.loads((folder / "sharing.json").read_text(encoding="utf-8"))
    table = pd.read_csv(folder / "transfers.csv").set_index("member")
    assert list(table.index) == ["PH", "TCM", "THC_TONGCHENG", "THC_QINLAN", "THC_JINJI"]
    # section 4's invariants on the written file: transfers sum to zero to the cent, nobody
    # loses, the final cost is the standalone cost less the share, the shares make v(N)
    assert abs(table["transfer"].sum()) < 0.01
    assert (table["gain"] >= -1e-6).all()
    assert np.allclose(table["final_cost"], table["borne_cost"] + table["transfer"], atol=0.01)
    assert np.allclose(table["final_cost"], table["standalone_cost"] - table["allocation"],
                       atol=0.01)
    assert table["allocation"].sum() == pytest.approx(result["savings"], abs=0.01)
    assert result["rule"] == "nucleolus" and result["in_core"] and not result["core_empty"]
    # the hospitals serve no residents of their own: alone, each pays only the operating cost
    # of the units it holds (units stay in service), read here from the scenario's tables
    import planner
    scenario = planner.load_scenario(None)
    opex = scenario.equipment.set_index("equipment")["opex_per_year"]
    units = scenario.resources[scenario.resources["resource"].isin(opex.index)]
    owner = units["site_id"].map(scenario.sites.set_index("site_id")["member"])
    alone = (units["amount"] * units["resource"].map(opex)).groupby(owner).sum()
    # ...and its own in-patients' and emergencies' exams (site_demand.csv) at cost_per_exam; its
    # own radiologists read them all (checked here), so it hires nobody and buys no reads
    per_exam = scenario.equipment.set_index("equipment")["cost_per_exam"]
    bound = scenario.site_demand
    bound_owner = bound["site_id"].map(scenario.sites.set_index("site_id")["member"])
    alone = alone.add((bound["units_per_year"] * bound["service"].map(per_exam))
                      .groupby(bound_owner).sum(), fill_value=0.0)
    rads = scenario.resources[scenario.resources["resource"] == "radiologists"]
    readable = (rads["amount"] * scenario.settings.reading.reads_per_radiologist).groupby(
        rads["site_id"].map(scenario.sites.set_index("site_id")["member"])).sum()
    own = bound.groupby(bound_owner)["units_per_year"].sum()
    assert (own <= readable.reindex(own.index, fill_value=0.0)).all()
    for hospital in ("PH", "TCM"):
        assert table.loc[hospital, "standalone_cost"] == pytest.approx(alone[hospital], abs=0.01)
    assert "exact enumeration" in texts(notebook)


def _split_by(surplus: float, base: pd.Series, lead: str, to_lead: float) -> pd.Series:
    """docs/design.md section 8, written out here: to_lead x surplus to the lead, the rest to
    the others in proportion to their (non-negative) base."""
    others = base.drop(lead).clip(lower=0.0)
    rest = (1.0 - to_lead) * surplus * others / others.sum()
    return pd.concat([pd.Series({lead: to_lead * surplus}), rest])


def check_fund_and_tiers(notebook, workdir: Path) -> None:
    import planner
    shown = texts(notebook)
    scenario = planner.load_scenario(None)
    fund = scenario.settings.fund
    # the default plan's accounts from its folder: revenue from the scenario's own tables, the
    # members' payments add up to the in-county payments, the surplus is what is left
    folder = workdir / "plans" / "default"
    accounts = json.loads((folder / "plan.json").read_text(encoding="utf-8"))["fund"]
    residents = scenario.zones["population"].sum()
    assert accounts["revenue"] == pytest.approx(600 * 0.9 * residents, abs=0.01)
    assert (fund.capitation, fund.insured_share, fund.surplus_to_lead) == (600, 0.9, 0.6)
    paid = pd.read_csv(folder / "fund.csv")
    assert paid["fund_payments_received"].sum() == pytest.approx(
        accounts["in_county_payments"], abs=0.05)
    assert accounts["surplus"] == pytest.approx(
        accounts["revenue"] - accounts["other_spending"] - accounts["in_county_payments"]
        - accounts["outside_payments"], abs=0.01)
    # a grassroots target is a hard constraint: every plan meets it, and a tighter one never
    # lowers the annual cost (up to the MIP gap); a target that does not bind keeps the
    # default plan's cost
    sweep = pd.read_csv(workdir / "grassroots_sweep.csv")
    assert list(sweep["target"]) == [0.4, 0.5, 0.6, 0.7, 0.75]
    assert (sweep["status"] == "optimal").all()
    assert (sweep["grassroots_share"] >= sweep["target"] - 1e-6).all()
    assert (sweep["annual_cost"].diff().dropna() >= -1e-4 * sweep["annual_cost"].max()).all()
    objective = json.loads((folder / "plan.json").read_text(encoding="utf-8"))["objective"]
    assert sweep["annual_cost"].iloc[0] == pytest.approx(objective, rel=1e-4)
    assert sweep["annual_cost"].iloc[-1] > objective
    assert (workdir / "grassroots_target.png").read_bytes()[:8] == PNG_MAGIC
    # 80% is refused and the message names the pool that caps it: 600 days x 25 visits of the
    # 19,490 cardiology visits a year is 76.9%
    assert "outreach pool" in shown and "0.769" in shown
    # the two splits of the slice's surplus, recomputed from their own files
    tables = {}
    for rule in ("policy", "allocation"):
        result = json.loads((workdir / "sharing" / rule / "sharing.json").read_text(
            encoding="utf-8"))
        table = pd.read_csv(workdir / "sharing" / rule / "transfers.csv").set_index("member")
        tables[rule] = table
        slice_fund = result["fund"]
        assert slice_fund["surplus_rule"] == rule
        surplus = slice_fund["surplus"]
        assert surplus == pytest.approx(
            slice_fund["revenue"] - slice_fund["other_spending"]
            - slice_fund["in_county_payments"] - slice_fund["outside_payments"], abs=0.01)
        assert table["surplus_share"].sum() == pytest.approx(surplus, abs=0.01)
        assert table.loc["PH", "surplus_share"] == pytest.approx(0.6 * surplus, abs=0.01)
        base = table["fund_payments_received"] if rule == "policy" else table["allocation"]
        expected = _split_by(surplus, base, "PH", 0.6).reindex(table.index)
        assert np.allclose(table["surplus_share"], expected, atol=0.02)
        cash = (table["fund_payments_received"] + table["patient_payments_received"]
                - table["borne_cost"] - table["transfer"] + table["surplus_share"])
        assert np.allclose(table["cash_year"], cash, atol=0.02)
        assert np.allclose(table["make_whole"],
                           (table["cash_year_alone"] - table["cash_year"]).clip(lower=0),
                           atol=0.02)
    # the surplus rule moves surplus shares only, never the transfers
    assert np.allclose(tables["policy"]["transfer"], tables["allocation"]["transfer"], atol=0.01)
    assert not np.allclose(tables["policy"]["surplus_share"],
                           tables["allocation"]["surplus_share"], atol=1.0)


CHECKS = {"01_plan_the_county": check_plan_the_county, "02_what_if": check_what_if,
          "03_sharing": check_sharing, "04_fund_and_tiers": check_fund_and_tiers}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    notebook = execute(path, tmp_path, monkeypatch)
    for k, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        assert cell.execution_count is not None, f"code cell {k} did not run"
    stderr = texts(notebook, "stderr")
    assert "Warning" not in stderr and "Traceback" not in stderr, stderr
    CHECKS[path.stem](notebook, tmp_path)
