"""A synthetic reviewed collection for the preview: images filed by book (crops of scikit-image's
photographs, so thumbnails are real pictures), images.csv, verified neighbour lists,
matches.json and groups.json shaped as the verify and groups stages write them, with known
groups, possible members and pictures that only share a part. Seeded: the same arguments
give the same files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

PAIR_LISTS = ("edges", "possible", "shared_parts")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry")
SIZE = 200


def base_pictures(count: int, rng) -> list[Image.Image]:
    """`count` different pictures: crops at random places of the packaged photographs."""
    import skimage.data

    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB") for n in PHOTOS]
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(120, min(photo.size)))
        x = int(rng.integers(0, photo.width - side + 1))
        y = int(rng.integers(0, photo.height - side + 1))
        out.append(photo.crop((x, y, x + side, y + side)).resize((SIZE, SIZE)))
    return out


def points(rng, n: int, part: bool = False) -> list[list[float]]:
    """Matched points: the same places in both pictures, a little jitter; over the whole
    picture for a copy, over one corner for a shared part."""
    xy = rng.uniform(0.05, 0.35, size=(n, 2)) if part else rng.uniform(0.1, 0.9, size=(n, 2))
    jitter = rng.normal(0, 0.005, size=(n, 2))
    both = np.hstack([xy, np.clip(xy + jitter, 0, 1)])
    return np.round(both, 4).tolist()


def pair_fields(rng, relation: str) -> dict:
    inliers = int(rng.integers(8, 120))
    copy = relation == "copy"
    return {
        "inliers": inliers,
        "verified": copy,
        "mirrored": False,
        "relation": relation,
        "coverage": round(float(rng.uniform(0.5, 0.95) if copy else rng.uniform(0.05, 0.3)), 6),
        "inlier_ratio": round(float(rng.uniform(0.2, 0.8)), 6),
        "agreement": round(float(rng.uniform(0.8, 0.99) if copy else rng.uniform(0.1, 0.4)), 6),
        "contained": round(float(rng.uniform(0.7, 1.0) if copy else rng.uniform(0.05, 0.3)), 6),
        "difference": round(float(rng.uniform(0.0, 0.1) if copy else rng.uniform(0.2, 0.6)), 6),
    }


def make_review_collection(
    root: Path,
    images: int = 40,
    books: int = 4,
    groups: int = 6,
    references: int = 8,
    neighbours: int = 12,
    seed: int = 0,
) -> dict:
    """Write the collection under `root` (images/, data/...) at the params' default paths;
    returns what was made: ids, book of each id, and the groups as written."""
    rng = np.random.default_rng(seed)
    ids = [f"img{i:05d}" for i in range(images)]
    book = {iid: f"book{int(rng.integers(0, books)):03d}" for iid in ids}
    order = rng.permutation(images)
    # group g: members drawn without overlap, 2 to 6 each; the rest are lone pictures
    members, at = [], 0
    for _ in range(groups):
        size = int(rng.integers(2, 7))
        members.append([ids[i] for i in sorted(order[at : at + size])])
        at += size
    if at > images:
        raise ValueError("too many groups for the images")
    loners = [ids[i] for i in order[at:]]
    pictures = base_pictures(groups + len(loners), rng)
    picture_of = {}
    for g, ms in enumerate(members):
        for m in ms:
            picture_of[m] = g
    for i, m in enumerate(loners):
        picture_of[m] = groups + i
    folder = root / "images"
    rows = []
    for iid in ids:
        img = pictures[picture_of[iid]]
        if iid not in loners:  # a copy: shifted and recoloured a little
            dx, dy = (int(v) for v in rng.integers(0, 12, size=2))
            img = img.crop((dx, dy, SIZE - 12 + dx, SIZE - 12 + dy)).resize((SIZE, SIZE))
        path = f"{book[iid]}/{iid}.jpg"
        (folder / book[iid]).mkdir(parents=True, exist_ok=True)
        img.save(folder / path, "JPEG", quality=80)
        digest = hashlib.sha256((folder / path).read_bytes()).hexdigest()
        rows.append(f"{iid},{path},{SIZE},{SIZE},{digest}")
    write(root / "data/embeddings/images.csv", "id,path,width,height,sha256\n" + "\n".join(rows))

    matches: dict[str, dict] = {}
    found = []
    taken: set[str] = set()
    for g, ms in enumerate(members):
        edges = []
        for i, a in enumerate(ms):
            for b in ms[i + 1 :]:
                edges.append({"a": a, "b": b, "score": 0.9, **pair_fields(rng, "copy")})
                matches.setdefault(a, {})[b] = {
                    "mirrored": False,
                    "points": points(rng, int(rng.integers(5, 40))),
                }
        outside = [x for x in loners if x not in taken]
        possible = (
            [{"a": ms[0], "b": outside[0], "score": 0.8, **pair_fields(rng, "copy")}]
            if outside and g % 2 == 0
            else []
        )
        shared = [
            {"a": m, "b": x, "score": 0.6, **pair_fields(rng, "shares_part")}
            for x in outside[1:3]
            for m in ms[:2]
        ]
        for e in possible + shared:
            matches.setdefault(e["a"], {})[e["b"]] = {
                "mirrored": False,
                "points": points(rng, int(rng.integers(5, 30)), e in shared),
            }
        found.append(
            {
                "group": ms[0],
                "size": len(ms),
                "members": [{"id": m, "url": None} for m in ms],
                "edges": edges,
                "possible": possible,
                "shared_parts": shared,
            }
        )
        taken.update(outside[:3])
    found.sort(key=lambda f: (-f["size"], f["group"]))

    group_of = {m: g for g, ms in enumerate(members) for m in ms}
    entries = []
    for ref in ids[:references]:
        others = [x for x in ids if x != ref]
        chosen = [others[i] for i in rng.choice(len(others), size=neighbours, replace=False)]
        mates = [m for m in members[group_of[ref]] if m != ref] if ref in group_of else []
        listed = mates + [c for c in chosen if c not in mates][: neighbours - len(mates)]
        ns = []
        for rank, n in enumerate(listed):
            score = round(0.95 - rank * 0.01, 6)
            if n in mates or rank == len(mates):  # the copies, then one sharing a part
                fields = pair_fields(rng, "copy" if n in mates else "shares_part")
                matches.setdefault(ref, {})[n] = {
                    "mirrored": False,
                    "points": points(rng, int(rng.integers(5, 40)), n not in mates),
                }
            else:
                fields = {
                    "inliers": int(rng.integers(0, 5)),
                    "verified": False,
                    "mirrored": False,
                    "relation": None,
                    "coverage": 0.0,
                    "inlier_ratio": 0.0,
                    "agreement": 0.0,
                    "contained": 0.0,
                    "difference": 0.0,
                }
            ns.append({"id": n, "url": None, "score": score, **fields})
        entries.append({"reference": {"id": ref, "url": None}, "neighbours": ns})
    for pair in [e for f in found for k in PAIR_LISTS for e in f[k]]:  # inliers: the points
        pair["inliers"] = len(matches[pair["a"]][pair["b"]]["points"])
    for e in entries:
        for n in e["neighbours"]:
            if n["relation"]:
                n["inliers"] = len(matches[e["reference"]["id"]][n["id"]]["points"])
    groups_json = "[\n" + ",\n".join(json.dumps(f) for f in found) + "\n]"
    write(root / "data/groups/groups.json", groups_json)
    write(root / "data/verified/neighbours.json", json.dumps(entries, indent=1))
    write(root / "data/verified/matches.json", json.dumps(matches))
    return {"ids": ids, "book": book, "groups": found, "entries": entries, "matches": matches}


def write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
