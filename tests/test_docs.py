"""The column reference in docs/ is generated from planner/schema.py and must stay in sync."""

from pathlib import Path

from planner.schema import schema_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenario_columns.md"


def test_column_reference_is_current():
    assert DOCS.read_text(encoding="utf-8").strip() == schema_markdown().strip(), \
        "regenerate with: python -m planner.schema > docs/scenario_columns.md"
