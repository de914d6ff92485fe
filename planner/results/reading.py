"""Central reading in a plan (docs/design.md section 9): who reads which exams.

Every exam (flows of an equipment and site-bound exams) needs one read. A site reads up to its
radiologists x reads_per_radiologist itself and sends the rest to the reading centres, whose
common pool (radiologists + hired, x reads_per_radiologist) reads their own exams and every
remote read. The table is recomputed from the plan's exams and hires, not from the solver's
remote_reads (those are free up to the pool, so a solver may report more than is needed): the
reads a site sends are exactly what its own radiologists cannot do.

reading.csv, one row per site with exams or radiologists and every centre: site_id, member,
centre, radiologists, hired, exams, reads_local, reads_remote, reads_bought, and at the
centres capacity, reads_done, utilisation (the common pool split in proportion to each centre's
capacity). plan.json `reading` holds the totals and the centres.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.model.inputs import ModelInputs, site_exams

READING_COLUMNS = ["site_id", "member", "centre", "radiologists", "hired", "exams",
                   "reads_local", "reads_remote", "reads_bought", "capacity", "reads_done",
                   "utilisation"]


def reading_table(inp: ModelInputs, flows: pd.DataFrame, hired: pd.Series,
                  bought: pd.Series) -> pd.DataFrame | None:
    """reading.csv (module docstring); None without [reading]. `flows` holds the plan's
    (zone, site, service, units), `hired` the FTE hired by centre, `bought` the reads a game's
    coalition bought by site."""
    if not inp.reading_centres:
        return None
    rpr = float(inp.reads_per_radiologist)
    fte = inp.radiologists if inp.radiologists is not None else pd.Series(dtype=float)
    at_site = flows[flows["service"].isin(inp.equipment.index)].groupby("site_id")["units"].sum()
    exams = at_site.add(site_exams(inp), fill_value=0.0)
    centres = list(inp.reading_centres)
    sites = [i for i in inp.sites.index
             if i in centres or exams.get(i, 0.0) > 1e-9 or fte.get(i, 0.0) > 0]
    table = pd.DataFrame({"site_id": sites})
    table["member"] = table["site_id"].map(inp.sites["member"])
    table["centre"] = table["site_id"].isin(centres)
    table["radiologists"] = table["site_id"].map(fte).fillna(0.0).astype(float)
    table["hired"] = table["site_id"].map(hired).fillna(0).astype(int)
    table["exams"] = table["site_id"].map(exams).fillna(0.0).astype(float)
    table["reads_bought"] = table["site_id"].map(bought).fillna(0.0).astype(float)
    own = table["radiologists"] * rpr
    beyond = np.maximum(table["exams"] - own - table["reads_bought"], 0.0)
    table["reads_remote"] = np.where(table["centre"], 0.0, beyond)
    table["reads_local"] = np.where(table["centre"], table["exams"],
                                    table["exams"] - table["reads_remote"] - table["reads_bought"])
    capacity = np.where(table["centre"], (table["radiologists"] + table["hired"]) * rpr, 0.0)
    pool = float(table.loc[table["centre"], "exams"].sum() + table["reads_remote"].sum())
    share = capacity / capacity.sum() if capacity.sum() > 0 else \
        table["centre"].to_numpy(float) / max(1, len(centres))
    table["capacity"] = capacity
    table["reads_done"] = np.where(table["centre"], pool * share, 0.0)
    table["utilisation"] = np.divide(table["reads_done"].to_numpy(float), capacity,
                                     out=np.zeros(len(table)), where=capacity > 0)
    return table[READING_COLUMNS]


def centre_shares(table: pd.DataFrame | None) -> pd.Series:
    """Each centre's share of the common pool's reads (site_id -> fraction, summing to 1): its
    reads_done over all reads done at the centres, which reading_table splits in proportion to
    capacity (equally when no centre has any). A remote read is counted at the centres in these
    shares: the fee it pays (planner/sharing/accounting.py) and its line on the map
    (planner/pictures/map.py). Empty without [reading] or when the centres read nothing."""
    if table is None:
        return pd.Series(dtype=float)
    centres = table[table["centre"]].set_index("site_id")["reads_done"].astype(float)
    total = float(centres.sum())
    return centres / total if total > 0 else pd.Series(dtype=float)


def reading_summary(table: pd.DataFrame | None, inp: ModelInputs) -> dict | None:
    """plan.json `reading`: reads_per_radiologist, radiologist_cost, the totals (exams,
    reads_local, reads_remote, reads_bought, hired) and per centre its hires, capacity,
    reads_done and utilisation; None without [reading]."""
    if table is None:
        return None
    centres = table[table["centre"]].set_index("site_id")
    return {
        "reads_per_radiologist": float(inp.reads_per_radiologist),
        "radiologist_cost": float(inp.radiologist_cost),
        "exams": float(table["exams"].sum()),
        "reads_local": float(table["reads_local"].sum()),
        "reads_remote": float(table["reads_remote"].sum()),
        "reads_bought": float(table["reads_bought"].sum()),
        "hired": int(table["hired"].sum()),
        "centres": {c: {"hired": int(r["hired"]), "capacity": float(r["capacity"]),
                        "reads_done": float(r["reads_done"]),
                        "utilisation": float(r["utilisation"])}
                    for c, r in centres.iterrows()},
    }


def reading_words(summary: dict | None) -> str | None:
    """The CLI summary's line: 'Reading: 12,345 exams, 2,000 read remotely at the centres
    (88% of their capacity), 3 radiologists hired'; None without [reading]."""
    if summary is None:
        return None
    capacity = sum(c["capacity"] for c in summary["centres"].values())
    done = sum(c["reads_done"] for c in summary["centres"].values())
    use = f" ({done / capacity:.0%} of their capacity)" if capacity > 0 else ""
    hired = summary["hired"]
    return (f"Reading: {summary['exams']:,.0f} exams, {summary['reads_remote']:,.0f} read "
            f"remotely at the centres{use}, {hired} radiologist{'s' if hired != 1 else ''} "
            "hired")
