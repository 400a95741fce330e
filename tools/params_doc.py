"""Write the parameter reference (docs/parameters.md) and params.yaml's comments from the settings.

    python -m tools.params_doc           # rewrite both (params.yaml keeps its values)
    python -m tools.params_doc --check   # exit 1 when either is out of date (a test runs this)

`similar/settings.py` declares every parameter once: default, bounds or choices, meaning.
This makes the two places people read them from, so neither can drift.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import yaml

from similar import parameters, settings
from similar.errors import run
from similar.files import write_bytes

DOC = Path("docs/parameters.md")
GROUP_NOTES = {
    "data": "the collection and the files that describe it",
    "fetch": "downloading the images from IIIF servers (stage fetch, with data.fetch)",
    "embed": "the image model (stage embed)",
    "reduce": "PCA (stage reduce)",
    "attach_iiif": "joining the IIIF links (stage attach_iiif)",
    "qdrant": "the vector store (stage ingest, and every reader)",
    "bulk_query": "neighbours of the reference images (stage bulk_query)",
    "graph": "the exact kNN graph of the whole collection (stage graph)",
    "verify": "geometric verification of the neighbours (stage verify)",
    "groups": "groups of copies over the whole collection (stage groups)",
    "compute": "where per-image and per-pair work runs (stages verify and groups)",
    "preview": "the review pages (stage preview)",
    "publish": "the groups as IIIF Presentation 3 and Web Annotations (stage publish, make view)",
    "paths": "where every stage writes; dvc.yaml reads the same values",
}
HEADER = """\
# Every tunable of the pipeline, grouped by stage. `dvc repro` reruns exactly the stages
# whose parameters changed; `dvc exp run -S group.key=value` tries a value as an experiment.
# What each key accepts: docs/parameters.md. The comments below are generated from
# similar/settings.py (python -m tools.params_doc); edit values freely, not comments.
"""


def scalar(value) -> str:
    text = yaml.safe_dump(
        parameters.yaml_value(value), default_flow_style=True, width=10**6
    ).strip()
    return text[:-4].strip() if text.endswith("\n...") else text


def params_text(current: settings.Settings) -> str:
    """params.yaml with these values and the generated comments."""
    lines = [HEADER.rstrip("\n")]
    for group, cls in settings.GROUPS.items():
        lines.append("")
        lines.append(f"{group}:")
        values = getattr(current, group)
        fields = [(f, getattr(values, f.name)) for f in dataclasses.fields(cls)]
        entries = [(f, entry(f.name, v)) for f, v in fields]
        width = max([34] + [len(e[0]) for _, e in entries if len(e[0]) <= 48])
        for f, (first, *items) in entries:
            lines.append(f"{first:<{width}}  # {f.metadata['doc']}")
            lines += items
    return "\n".join(lines) + "\n"


def entry(name: str, value) -> list[str]:
    """The lines of one key. A list is written one item a line, as `dvc exp run -S` rewrites
    it, so an experiment never leaves params.yaml out of date."""
    if isinstance(value, tuple):
        return [f"  {name}:", *(f"  - {scalar(item)}" for item in value)]
    return [f"  {name}: {scalar(value)}"]


def doc_text() -> str:
    d = parameters.defaults()
    out = [
        "# Parameters",
        "",
        "Every tunable lives in `params.yaml`, grouped by stage. This page is generated from",
        "`similar/settings.py` (`python -m tools.params_doc`); a test keeps it current. A value",
        "outside its range, or an unknown key, stops the run with one line naming the key",
        "(and the closest known key for a typo). YAML aliases and a key given twice are",
        "refused too.",
        "",
    ]
    for group in settings.GROUPS:
        out += [
            f"## `{group}`: {GROUP_NOTES[group]}",
            "",
            "| parameter | default | accepts | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for key, f in parameters.declarations():
            if key.split(".")[0] != group:
                continue
            default = scalar(getattr(getattr(d, group), f.name)).replace("|", "\\|")
            accepts = parameters.allowed(f).replace("|", "\\|")
            meaning = f.metadata["doc"]
            if not f.metadata["results"]:
                meaning += " (changes no output: no stage reruns for it)"
            out.append(f"| `{key}` | `{default}` | {accepts} | {meaning} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    params_file = Path(parameters.PARAMS_FILE)
    wanted = {DOC: doc_text(), params_file: params_text(parameters.load(params_file))}
    stale = [
        p for p, text in wanted.items() if not p.is_file() or p.read_text(encoding="utf-8") != text
    ]
    if args.check:
        if stale:
            print(
                f"out of date: {', '.join(map(str, stale))}; run `python -m tools.params_doc`",
                file=sys.stderr,
            )
            sys.exit(1)
        return
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(p, wanted[p].encode("utf-8"))
        print(f"written: {p}")


if __name__ == "__main__":
    run(main)
