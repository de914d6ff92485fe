"""The column reference in docs/ is generated from planner/scenario/schema.py and must stay in sync."""

from pathlib import Path

from planner.scenario.schema import schema_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenario_columns.md"


def test_column_reference_is_current():
    assert DOCS.read_text(encoding="utf-8").strip() == schema_markdown().strip(), \
        "regenerate with: python -m planner.scenario.schema > docs/scenario_columns.md"


ROOT = Path(__file__).resolve().parents[1]
TEXT_FILES = ("*.md", "*.py", "*.ipynb", "*.toml")


def _repository_texts():
    for pattern in TEXT_FILES:
        for path in ROOT.rglob(pattern):
            parts = path.relative_to(ROOT).parts
            if parts[0] in {".venv", ".git", "build"} or "egg-info" in path.as_posix():
                continue
            yield path


def test_documents_cite_only_what_a_clone_has():
    """A clone has only the repository: the design reference and the research notes the README, docs/,
    models/ and data/ cite live in the repository (docs/design.md, data/sources/FACTS.md)."""
    outside_paths = ("../" + "shared", "shared/" + "DESIGN")   # split: this file is scanned too
    outside = [f"{p.relative_to(ROOT)}:{n}" for p in _repository_texts()
               for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
               if any(s in line for s in outside_paths)]
    assert outside == []
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    for heading in ("## 5. Interfaces", "## 7. What-if studies", "## 8. The consortium's money",
                    "## 9. Hospitals, reading centres"):
        assert heading in design
    assert (ROOT / "data" / "sources" / "FACTS.md").is_file()
