"""What people read shows names beside ids and cost terms in words (issue 18, item 5), and
`planner diff` prints money to the cent without float noise (item 7).

The names are checked against the scenario's own files (data/tianchang/sites.csv and
members.csv, read here with the csv module), the money identities against DESIGN.md section 4
(final_cost = standalone_cost - allocation, transfer = final_cost - borne_cost, gain =
allocation, transfers sum to zero), recomputed in exact decimal arithmetic from the file's text.
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

import planner
from planner.cli import app
from planner.model.ledger import PENALTY_TERMS, TERMS, term_words
from planner.results.folders import PlanRecord
from planner.sharing.division import share, sharing_summary

DATA = Path(__file__).resolve().parents[1] / "data" / "tianchang"
MEMBERS = ["PH", "THC_JINJI", "THC_RENHEJI"]   # a small sub-consortium: 7 coalitions
E_NOTATION = re.compile(r"\d[eE][+-]?\d")
CENTS = re.compile(r"^-?\d+\.\d\d$")
KEYS_NOT_WORDS = [t for t in TERMS if not re.search(rf"\b{t}\b", term_words(t))]


def names_in(file: str, key: str) -> dict[str, str]:
    with open(DATA / file, encoding="utf-8", newline="") as handle:
        return {row[key]: row["name"] for row in csv.DictReader(handle)}


def invoke(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def plan_folders(tmp_path_factory):
    """The default county at its budget and at 6 million (which binds), as plan folders, with
    what `planner plan` printed for the first."""
    root = tmp_path_factory.mktemp("plans")
    printed = invoke("plan", "--out", root / "full")
    invoke("plan", "--budget", 14_000_000, "--out", root / "small")
    return root / "full", root / "small", printed


@pytest.fixture(scope="module")
def sharing(tmp_path_factory):
    scenario = planner.load_scenario(planner.default_scenario_path()).restricted_to(MEMBERS)
    result = share(scenario, "shapley", workers=1)
    folder = tmp_path_factory.mktemp("share") / "share"
    result.save(folder)
    return result, folder


# --- the plan: summary and report ----------------------------------------------------------
def test_the_plan_summary_puts_each_sites_name_beside_its_id(plan_folders):
    sites = names_in("sites.csv", "site_id")
    printed = plan_folders[2]
    start = printed.index("New / relocated units:")
    end = printed.index("Residents within")
    rows = [line for line in printed[start:end].splitlines()[1:]
            if line.strip() and line.split()[0] != "site_id" and "Outreach days" not in line]
    assert rows
    for line in rows:
        site = next(word for word in line.split() if word in sites)
        assert line.rstrip().endswith(sites[site]), line


class _Table(HTMLParser):
    """The cells of one table (by id) of an HTML page."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def test_the_reports_decisions_table_has_the_site_names(plan_folders):
    folder = plan_folders[0]
    invoke("report", folder)
    parser = _Table("decisions")
    parser.feed((folder / "report.html").read_text(encoding="utf-8"))
    header, *rows = parser.rows
    assert header[header.index("site_id") + 1] == "name"
    sites = names_in("sites.csv", "site_id")
    with open(folder / "decisions.csv", encoding="utf-8", newline="") as handle:
        decisions = list(csv.DictReader(handle))
    assert len(rows) == len(decisions) > 0
    for row in rows:
        cells = dict(zip(header, row))
        assert cells["name"] == sites[cells["site_id"]]


# --- cost terms in words ------------------------------------------------------------------------
def test_every_term_has_words_and_the_priced_ones_say_they_are_not_cash():
    for term in TERMS:
        words = term_words(term)
        assert words and "_" not in words, term
        assert ("(priced, not cash)" in words) == (term in PENALTY_TERMS), term
    assert term_words("annual_capital") == "capital (annualised)"


# --- stage 2: transfers.csv, statements, savings by term -----------------------------------
def test_transfers_csv_names_the_members_says_who_pays_and_keeps_to_the_cent(sharing):
    result, folder = sharing
    with open(folder / "transfers.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    contract = ["member", "standalone_cost", "borne_cost", "allocation", "transfer",
                "final_cost", "gain"]
    assert list(rows[0])[:7] == contract and {"name", "direction"} <= set(rows[0])
    members = names_in("members.csv", "member")
    assert [r["member"] for r in rows] == MEMBERS
    total = Decimal(0)
    for r in rows:
        assert r["name"] == members[r["member"]]
        for column in contract[1:]:
            assert CENTS.match(r[column]), (column, r[column])
        x = {c: Decimal(r[c]) for c in contract[1:]}
        assert x["final_cost"] == x["standalone_cost"] - x["allocation"]
        assert x["transfer"] == x["final_cost"] - x["borne_cost"]
        assert x["gain"] == x["allocation"] >= 0
        total += x["transfer"]
        amount = f"{abs(x['transfer']):,.2f} CNY"
        expected = (f"pays {amount} into the consortium pool" if x["transfer"] > 0 else
                    f"receives {amount} from the consortium pool")
        assert r["direction"] == expected
    assert total == 0
    assert sum(Decimal(r["borne_cost"]) for r in rows) == \
        Decimal(f"{result.grand_cost:.2f}")


def test_statements_and_summary_name_the_members_and_word_the_terms(sharing):
    result, _ = sharing
    members = names_in("members.csv", "member")
    statements = result.statements()
    for member, line in zip(MEMBERS, statements):
        assert line.startswith(f"{members[member]} [{member}]: ")
    summary = sharing_summary(result)
    table = result.savings_by_term
    shown = table[table["savings"].abs() >= 5e3]
    assert len(shown) and shown["term"].isin(PENALTY_TERMS).any()
    for term in shown["term"]:
        assert term_words(term) in summary
    for term in KEYS_NOT_WORDS:   # no key is shown where words exist
        assert not re.search(rf"\b{term}\b", summary), term


def test_sharing_json_labels_the_priced_savings(sharing):
    _, folder = sharing
    by_term = json.loads((folder / "sharing.json").read_text(encoding="utf-8"))["savings_by_term"]
    for term, row in by_term.items():
        assert row["label"] == term_words(term)
        assert row["priced"] is (term in PENALTY_TERMS)
    assert by_term["uncovered_penalty"]["label"].endswith("(priced, not cash)")


# --- planner diff ----------------------------------------------------------------------------
SECTION_TITLES = ("Units in service that changed:", "Capital spent by member that changed:",
                  "KPIs that changed:", "Annual cost by term that changed:",
                  "Annual cost borne by member that changed:")


def sections(printed: str) -> dict[str, list[str]]:
    """The rows of each table of the diff summary (after its header line)."""
    found, title = {}, None
    for line in printed.splitlines():
        if line in SECTION_TITLES:
            title, found[line] = line, []
        elif title and line.strip():
            found[title].append(line)
        else:
            title = None if not line.strip() else title
    return {t: rows[1:] for t, rows in found.items()}


def test_diff_prints_cents_without_e_notation_or_unchanged_rows(plan_folders):
    full, small, _ = plan_folders
    printed = invoke("diff", full, small)
    assert not E_NOTATION.search(printed), printed
    tables = sections(printed)
    assert "KPIs that changed:" in tables and "Annual cost by term that changed:" in tables
    for title, rows in tables.items():
        for row in rows:
            change = row.split()[-1]
            assert float(change.replace(",", "")) != 0, (title, row)
    plan_json = {f: json.loads((f / "plan.json").read_text()) for f in (full, small)}
    annual = next(r for r in tables["KPIs that changed:"] if r.startswith("annual_cost "))
    before = plan_json[full]["kpis"]["annual_cost"]
    assert f"{before:,.2f}" in annual.split()
    for row in tables["Annual cost by term that changed:"]:
        assert any(row.startswith(term_words(t) + " ") for t in TERMS), row
        assert not any(term in row.split() for term in KEYS_NOT_WORDS), row


def test_diff_json_keeps_numbers_rounded_to_the_cent(plan_folders):
    full, small, _ = plan_folders
    data = json.loads(invoke("diff", full, small, "--json"))
    for name in ("costs", "member_costs", "capital"):
        for row in data[name]:
            for column in ("before", "after", "change"):
                value = row[column]
                assert isinstance(value, (int, float)) and round(value, 2) == value
            assert round(row["after"] - row["before"], 2) == row["change"]
    kpis = {r["kpi"]: r for r in data["kpis"]}
    cost = json.loads((full / "plan.json").read_text())["kpis"]["annual_cost"]
    assert kpis["annual_cost"]["before"] == round(cost, 2)


def test_float_noise_is_no_change():
    """The issue's own example: referral 0 against 1.8e-10 and an annual cost differing in the
    ninth decimal are no change; a real change of one cent is shown as 0.01."""
    def record(label, referral, cost, operating):
        return PlanRecord(label, decisions=_no_decisions(),
                          kpis={"annual_cost": cost, "in_county_rate": 1.0},
                          costs={"referral": referral, "operating": operating},
                          objective=cost)
    a = record("a", 0.0, 22823270.123456789, 100.0)
    b = record("b", 1.808678e-10, 22823270.123456791, 100.01)
    printed = planner.compare(a, b).summary()
    assert not E_NOTATION.search(printed)
    assert "referral" not in printed and "KPIs that changed:" not in printed
    assert re.search(r"^operating +100\.00 +100\.01 +\+0\.01$", printed, re.MULTILINE), printed


def _no_decisions():
    import pandas as pd
    return pd.DataFrame(columns=["decision", "site_id", "resource", "from_site", "amount"])
