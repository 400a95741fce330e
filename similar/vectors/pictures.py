"""The pictures found on pages of type (pages.py), as the stages pass them on.

`pictures.npz` holds three arrays, no pickles: `ids` (the page's image id, in images.csv
order), `boxes` (int32 P x 4: left, top, right, bottom in the page's pixels) and `vectors`
(float32 P x D). The embed stage writes the model's vectors, the reduce stage the same
pictures projected by the collection's PCA, which the graph stage reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..files import require_file


@dataclass(frozen=True)
class Pictures:
    ids: np.ndarray  # (P,) unicode
    boxes: np.ndarray  # (P, 4) int32
    vectors: np.ndarray  # (P, D) float32

    @classmethod
    def of(cls, ids, boxes, vectors, dim: int) -> Pictures:
        return cls(
            np.asarray(ids, dtype=str),
            np.asarray(boxes, dtype=np.int32).reshape(len(ids), 4),
            np.asarray(vectors, dtype=np.float32).reshape(len(ids), dim),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def projected(self, project, dim: int) -> Pictures:
        """The same pictures, their vectors through `project` (a PCA model's, to `dim`)."""
        vectors = project(self.vectors) if len(self) else np.zeros((0, dim), np.float32)
        return Pictures(self.ids, self.boxes, vectors)

    def write(self, target) -> None:
        with open(target, "wb") as fh:
            np.savez(fh, ids=self.ids, boxes=self.boxes, vectors=self.vectors)

    @classmethod
    def read(cls, source, stage: str) -> Pictures:
        path = require_file(source, "pictures found on pages", f"run `dvc repro {stage}`")
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["ids"], z["boxes"], z["vectors"])
        except (ValueError, KeyError, OSError) as exc:
            raise UserError(
                f"{path}: not a file of pictures ({exc}); rerun `dvc repro -f {stage}`"
            ) from None

    def among(self, ids) -> Pictures:
        """The pictures found on the pages of `ids` alone."""
        keep = np.isin(self.ids, np.asarray(list(ids), dtype=str))
        return Pictures(self.ids[keep], self.boxes[keep], self.vectors[keep])

    def rows_in(self, ids: list[str]) -> np.ndarray:
        """Each picture's page as a row of `ids` (a UserError when one is missing)."""
        row = {name: r for r, name in enumerate(ids)}
        missing = [str(name) for name in self.ids if str(name) not in row]
        if missing:
            raise UserError(
                f"the picture found on {missing[0]} has no image of that id; rerun "
                "`dvc repro -f embed`"
            )
        return np.asarray([row[str(name)] for name in self.ids], dtype=np.int64)
