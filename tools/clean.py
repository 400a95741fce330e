"""`make clean`: remove the pipeline's outputs where `paths.*` in params.yaml puts them.

Kept: the per-image caches (`paths.embed_cache`, `paths.feature_cache`: `make clean-cache`),
the sample, the venv, and any folder this project did not write (no `.similar-output` in it)
that a path parameter was pointed at outside its default place.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from similar import parameters
from similar.errors import UserError, run
from similar.files import check_replaceable, remove_stale_temps
from similar.settings import Settings

CACHES = ("embed_cache", "feature_cache")


def targets(config: Settings) -> list[tuple[str, Path, Path]]:
    """(parameter, path, its default) of every output `make clean` removes."""
    defaults = parameters.defaults().paths
    return [
        (f"paths.{f.name}", Path(value), Path(getattr(defaults, f.name)))
        for f in dataclasses.fields(config.paths)
        if f.name not in CACHES and (value := getattr(config.paths, f.name))
    ]


def remove(param: str, path: Path, default: Path) -> str:
    """Remove one output; returns a line when it was kept, else ""."""
    remove_stale_temps(path.parent, path.name)
    if path.is_dir() and not path.is_symlink():
        if path.resolve() != default.resolve():
            try:
                check_replaceable(path, param)
            except UserError:
                return f"kept {path} ('{param}'): this project did not write it"
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    return ""


def main(argv: list[str] | None = None) -> None:
    removed, kept = 0, []
    for param, path, default in targets(parameters.load()):
        present = path.exists() or path.is_symlink()
        note = remove(param, path, default)
        if note:
            kept.append(note)
        removed += present and not note
    for note in kept:
        print(note)
    print(f"clean: removed {removed} outputs named by paths.* (caches kept: make clean-cache)")


if __name__ == "__main__":
    run(main)
