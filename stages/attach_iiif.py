"""Stage `attach_iiif`: join reduced vectors with their IIIF URLs into vectors.jsonl.

One JSON object per line, `{"id", "url", "vector"}`, in the order of the image index.
Images without a row in the IIIF CSV keep `url: null` and are counted and warned about
(`attach_iiif.on_missing: error` makes that fatal).
"""
from __future__ import annotations

import csv

import numpy as np
import orjson

from . import config as cfg
from .files import atomic_open, read_csv, write_json

CHUNK = 4096


def read_iiif_csv(path, id_column: str, url_column: str) -> dict[str, str]:
    """id -> URL from the IIIF CSV; missing columns or conflicting duplicate ids are UserErrors."""
    cfg.require_file(path, "IIIF CSV", "set data.iiif_csv in params.yaml")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        for key, col in (("id_column", id_column), ("url_column", url_column)):
            if col not in columns:
                raise cfg.UserError(f"{path}: no column '{col}' (attach_iiif.{key}); the file has "
                                    f"{', '.join(columns) or 'no header'}")
        urls: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            iid, url = (row[id_column] or "").strip(), (row[url_column] or "").strip()
            if not iid:
                continue
            if iid in urls and urls[iid] != url:
                raise cfg.UserError(f"{path}:{line}: id '{iid}' appears twice with different URLs")
            urls[iid] = url or None
    return urls


def main() -> None:
    params = cfg.load_params()
    id_column = cfg.get_str(params, "attach_iiif.id_column")
    url_column = cfg.get_str(params, "attach_iiif.url_column")
    on_missing = cfg.get_choice(params, "attach_iiif.on_missing", ["warn", "error"])
    index_path = cfg.require_file(cfg.path(params, "image_index"), "image index",
                                  "run `dvc repro embed`")
    vectors = np.load(cfg.require_file(cfg.path(params, "reduced"), "reduced vectors",
                                       "run `dvc repro reduce`"), mmap_mode="r")
    index = read_csv(index_path)
    if len(index) != vectors.shape[0]:
        raise cfg.UserError(f"{index_path} has {len(index)} rows but the reduced vectors have "
                            f"{vectors.shape[0]}; rerun with `dvc repro -f reduce`")
    urls = read_iiif_csv(cfg.get_str(params, "data.iiif_csv"), id_column, url_column)
    missing = [row["id"] for row in index if urls.get(row["id"]) is None]
    if missing and on_missing == "error":
        raise cfg.UserError(f"{len(missing)} images have no URL in {params['data']['iiif_csv']} "
                            f"(first: {missing[0]}); add them or set attach_iiif.on_missing: warn")
    out = cfg.path(params, "vectors")
    with atomic_open(out, "wb") as fh:
        for start in range(0, len(index), CHUNK):
            block = np.array(vectors[start:start + CHUNK], dtype=np.float32)
            for row, vector in zip(index[start:start + CHUNK], block):
                # orjson writes float32 as its shortest exact decimal: compact and lossless
                fh.write(orjson.dumps({"id": row["id"], "url": urls.get(row["id"]),
                                       "vector": vector}, option=orjson.OPT_SERIALIZE_NUMPY))
                fh.write(b"\n")
    write_json(cfg.path(params, "attach_metrics"),
               {"matched": len(index) - len(missing), "missing": len(missing)})
    print(f"attach_iiif: {len(index)} vectors -> {out}, {len(index) - len(missing)} with a URL, "
          f"{len(missing)} without")
    if missing:
        cfg.warn(f"{len(missing)} images have no row in the IIIF CSV (first: {missing[0]}); "
                 "their url is null")


if __name__ == "__main__":
    cfg.run(main)
