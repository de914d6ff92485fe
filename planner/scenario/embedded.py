"""The scenarios shipped inside the package (docs/design.md section 9, "Embedded scenarios").

Each is a folder of the `planner.data` package (the repository's ``data/``, written by a builder
there) holding a ``scenario.toml``; its name is the folder's name. ``load_scenario("deqing")`` and
``planner plan deqing`` load one when no path of that name exists; ``planner scenarios`` lists
them. Only the names are found here: loading and checking stay in planner/scenario/loading.py.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = "planner.data"


def _root() -> Path:
    return Path(str(resources.files(PACKAGE)))


def embedded_names() -> list[str]:
    """The embedded scenarios' names, sorted: the package's folders with a scenario.toml."""
    root = _root()
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and (p / "scenario.toml").is_file())


def embedded_path(name: str) -> Path | None:
    """The folder of the embedded scenario `name`, or None when there is none of that name (a
    name is one plain folder name: a path with a separator or a suffix is never one)."""
    if not name or Path(name).name != name or name.startswith("."):
        return None
    return _root() / name if name in embedded_names() else None
