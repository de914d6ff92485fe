"""The documents stay true: the column reference in docs/ is generated from
planner/scenario/schema.py, documents cite only what a clone has, and docs/architecture.md names
every module."""

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
    """A clone has only the repository: the design reference and the research notes the README,
    docs/, models/ and data/ cite live in the repository (docs/design.md, data/sources/FACTS.md)."""
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


def test_the_architecture_names_every_module():
    """docs/architecture.md says what each folder of planner/ owns, one entry per module: a module
    added, moved or renamed without it is caught here. Folders are named `folder/`, modules in
    backquotes by their name within the folder (`session`, `cli`)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "planner"
    missing = [f"{folder.name}/" for folder in package.iterdir()
               if (folder / "__init__.py").is_file() and f"`{folder.name}/`" not in text]
    for module in package.rglob("*.py"):
        if "migrations" in module.parts or module.stem == "__init__":
            continue
        if f"`{module.stem}`" not in text:
            missing.append(module.relative_to(package).as_posix())
    assert missing == [], f"docs/architecture.md does not name: {missing}"
