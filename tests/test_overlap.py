"""Copy or shared part: the overlap figures of a transform on hand-made keypoints."""

import numpy as np
import pytest

from similar.verification.overlap import NONE, hull_share, inside, overlap

GRID = np.array([(x, y) for y in range(5, 100, 10) for x in range(5, 100, 10)], np.float32)
IDENTITY = np.array([[1, 0, 0], [0, 1, 0]], np.float64)


def test_a_copy_agrees_inside_its_whole_overlap():
    every = np.arange(len(GRID))
    o = overlap(GRID, (100, 100), GRID, (100, 100), every, every, IDENTITY)
    assert o.inlier_ratio == 1.0 and o.coverage == pytest.approx(0.81)


def test_a_shared_border_covers_the_picture_but_most_features_inside_disagree():
    border = np.flatnonzero((GRID.min(axis=1) < 10) | (GRID.max(axis=1) > 90))
    o = overlap(GRID, (100, 100), GRID, (100, 100), border, border, IDENTITY)
    assert o.coverage > 0.8 and o.inlier_ratio == pytest.approx(36 / 100)


def test_a_figure_in_another_scene_covers_a_small_part():
    figure = np.flatnonzero((GRID[:, 0] < 30) & (GRID[:, 1] < 30))
    o = overlap(GRID, (100, 100), GRID, (100, 100), figure, figure, IDENTITY)
    assert o.coverage == pytest.approx(0.04) and o.inlier_ratio == pytest.approx(0.09)


def test_a_crop_counts_only_the_keypoints_of_the_original_inside_the_crop():
    # b is the top-left quarter of a, twice as large: a -> b is x * 2
    crop = np.flatnonzero((GRID[:, 0] < 50) & (GRID[:, 1] < 50))
    b_xy = GRID[crop] * 2
    o = overlap(GRID, (100, 100), b_xy, (100, 100), crop, np.arange(len(crop)), IDENTITY * 2)
    assert o.inlier_ratio == 1.0 and o.coverage == pytest.approx(0.16)


def test_degenerate_inputs_give_none():
    assert overlap(GRID, (100, 100), GRID, (100, 100), np.arange(2), np.arange(2), IDENTITY) == NONE
    assert overlap(GRID, (100, 100), GRID, (100, 100), np.arange(9), np.arange(9), None) == NONE
    assert hull_share(GRID[:2], (100, 100)) == 0.0
    assert not inside(GRID, np.zeros((0, 2), np.float32)).any()


FRANCE = [(0, 85, 164), (255, 255, 255), (239, 65, 53)]
ITALY = [(0, 146, 70), (255, 255, 255), (206, 43, 55)]


def tricolour(colours, size=(64, 44)) -> np.ndarray:
    w, h = size
    out = np.zeros((h, w, 3), np.uint8)
    for stripe, colour in enumerate(colours):
        out[:, stripe * w // 3 : (stripe + 1) * w // 3] = colour
    return out


def colours_apart(first: np.ndarray, second: np.ndarray, kept: bool = False) -> float:
    from similar.verification.overlap import colour_difference

    size = (first.shape[1] * 4, first.shape[0] * 4)
    return colour_difference(first, size, second, size, np.eye(3)[:2], kept)


def test_one_field_in_another_colour_makes_another_picture():
    assert colours_apart(tricolour(FRANCE), tricolour(ITALY)) > 0
    assert colours_apart(tricolour(FRANCE), tricolour(FRANCE)) == 0


def test_a_dark_field_for_a_strong_colour_makes_another_picture():
    # Belgium's black as a small flag's thumbnail holds it (lightened by its glossy shading),
    # against Italy's green: 30 of lightness apart only, but no wash makes dark ink green
    belgium = [(60, 60, 60), (253, 218, 36), (206, 43, 55)]
    assert colours_apart(tricolour(belgium), tricolour(ITALY)) > 0


def test_a_field_in_a_near_colour_beside_a_kept_one_makes_another_picture():
    # Ireland's orange field for Italy's red: under 30 degrees of hue apart, 40 apart in Lab;
    # the green field kept
    ireland = [ITALY[0], (255, 255, 255), (255, 136, 62)]
    assert colours_apart(tricolour(ireland), tricolour(ITALY)) > 0


def test_a_picture_of_flat_fields_recoloured_as_a_whole_is_another_picture():
    france = tricolour(FRANCE)
    assert colours_apart(france, france[..., [2, 0, 1]]) > 0


def hatched(colours) -> np.ndarray:
    """A tricolour drawn over with ink: colour laid over strokes, as on a coloured print."""
    drawing = tricolour(colours)
    drawing[::3] = 30
    drawing[:, ::4] = 30
    return drawing


def test_recolouring_a_drawing_is_not_a_difference():
    drawing = hatched(FRANCE)
    exchanged = drawing[..., [2, 0, 1]]  # every colour another: a copy in other inks
    france = tricolour(FRANCE)
    grey = np.repeat(france.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    sepia = (grey * np.array([1.0, 0.9, 0.75])).astype(np.uint8)  # toned: one weak hue
    assert colours_apart(drawing, exchanged) == 0
    for copy in (grey, sepia):
        assert colours_apart(france, copy) == 0


def test_a_pair_that_must_keep_its_colours_differs_by_any_recolouring():
    """Let in by the small inlier floor, a pair says little by its few inliers: a drawing
    recoloured as a whole, or toned, is then another picture (oxygen's cyan folder and its
    violet one), while the same colours with a few cells changed stay one."""
    drawing = hatched(FRANCE)
    exchanged = drawing[..., [2, 0, 1]]
    france = tricolour(FRANCE)
    grey = np.repeat(france.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    sepia = (grey * np.array([1.0, 0.9, 0.75])).astype(np.uint8)
    for copy in (exchanged, sepia):
        assert colours_apart(drawing if copy is exchanged else france, copy, kept=True) > 0
    touched = france.copy()
    touched[18:22, 30:34] = (0, 146, 70)  # a speck of green: under KEPT of the cells
    assert colours_apart(france, touched, kept=True) == 0
    assert colours_apart(france, france, kept=True) == 0


def test_recoloured_counts_the_cells_that_change_colour():
    from similar.verification.overlap import KEPT, recoloured

    white, red, green = (100.0, 0.0, 0.0), (53.0, 80.0, 67.0), (46.0, -52.0, 50.0)
    cells = np.array([[white, white]] * 8 + [[red, red]] * 8 + [[red, green]] * 4, np.float32)
    assert recoloured(cells) == pytest.approx(4 / 20, abs=1e-4)
    speck = np.array([[white, white]] * 19 + [[red, green]], np.float32)
    assert 1 / 20 < KEPT and recoloured(speck) == 0.0


def test_fields_are_cells_without_a_step_inside_as_a_loop_over_cells_would_find():
    from similar.verification.overlap import FIELD_STEP, cell_index, steps_in_cells

    rng = np.random.default_rng(5)
    lightness = np.repeat(rng.integers(0, 4, (8, 10)) * 2.0, 6, axis=0).repeat(6, axis=1)
    lightness[rng.random(lightness.shape) < 0.01] = 90
    counted = rng.random(lightness.shape) > 0.05
    xs, ys = np.array([3, 17, 30, 41, 55]), np.array([0, 12, 25, 44])
    cell, within = cell_index(xs, ys, lightness.shape)
    found = steps_in_cells(lightness, cell, within & counted, 12)
    for number, box in enumerate(per_cell(xs, ys)):
        values, inside = lightness[box], (within & counted)[box]
        across = inside[:, 1:] & inside[:, :-1] & (np.abs(np.diff(values, axis=1)) >= FIELD_STEP)
        down = inside[1:] & inside[:-1] & (np.abs(np.diff(values, axis=0)) >= FIELD_STEP)
        assert found[number] == across.sum() + down.sum()


def test_a_hand_coloured_print_is_its_print():
    rng = np.random.default_rng(3)
    paper = np.full((44, 64, 3), 236, np.uint8)
    lines = rng.random((44, 64)) < 0.2
    paper[lines] = 30
    coloured = paper.copy()
    coloured[:, :32][~lines[:, :32]] = (236, 200, 150)  # a light wash on the paper
    coloured[:, 32:][~lines[:, 32:]] = (170, 200, 235)
    assert colours_apart(paper, coloured) == 0


def per_cell(xs, ys):
    """The cells between grid lines, as slices (the reference the vectorised sums are held to)."""
    for y0, y1 in zip(ys[:-1], ys[1:]):
        for x0, x1 in zip(xs[:-1], xs[1:]):
            yield np.s_[y0:y1, x0:x1]


def test_cells_agreeing_counts_each_cell_as_a_loop_over_cells_would():
    from similar.verification.overlap import AGREE, FILLED, FLAT, cells_agreeing

    rng = np.random.default_rng(5)
    laid = rng.normal(128, 6, (60, 70)).astype(np.float32)
    target = (laid + rng.normal(0, 6, laid.shape)).astype(np.float32)
    target[:20] = rng.normal(128, 6, (20, 70))  # a band that draws something else
    valid = np.ones(laid.shape, bool)
    valid[:, :9] = False  # cells partly outside the overlap
    xs, ys = np.array([0, 5, 5, 20, 33, 47, 70]), np.array([0, 12, 30, 30, 45, 60])
    agreeing = drawn = 0
    for cell in per_cell(xs, ys):
        inside = valid[cell]
        if inside.size < 4 or inside.mean() < FILLED:
            continue
        first, second = laid[cell][inside], target[cell][inside]
        if max(first.std(), second.std()) < FLAT:
            continue
        drawn += 1
        agreeing += np.corrcoef(first, second)[0, 1] >= AGREE
    assert 0 < agreeing < drawn
    assert cells_agreeing(laid, target, valid, xs, ys) == (agreeing, drawn)


def test_cell_strokes_counts_each_cell_as_a_loop_over_cells_would():
    from similar.verification.overlap import MIN_STROKES, UNMATCHED, cell_strokes

    rng = np.random.default_rng(6)
    drawn = rng.random((40, 50)) < 0.3
    alone = drawn & (rng.random(drawn.shape) < 0.2)
    xs, ys = np.array([0, 10, 10, 25, 50]), np.array([0, 3, 20, 40])
    counted, differs = cell_strokes(drawn, alone, xs, ys)
    for index, cell in enumerate(per_cell(xs, ys)):
        strokes, lone = int(drawn[cell].sum()), int(alone[cell].sum())
        assert counted.flat[index] == (strokes >= MIN_STROKES)
        assert differs.flat[index] == (lone >= MIN_STROKES and lone >= UNMATCHED * strokes)
    assert counted.any() and differs.any() and not differs.all()


def test_hues_changed_counts_each_cell_as_a_loop_over_cells_would():
    import math

    from similar.verification.overlap import (
        CHROMA,
        DARK,
        HUE,
        LIGHTNESS,
        RECOLOURED,
        TONED,
        hues_changed,
    )

    def chroma(lab):
        return math.hypot(lab[1], lab[2])

    def apart(first, second):
        turned = abs(
            math.degrees(math.atan2(first[2], first[1]) - math.atan2(second[2], second[1]))
        )
        return min(turned % 360, 360 - turned % 360)

    def loop(colours):
        kept = changed = 0
        for one, other in colours:
            if min(chroma(one), chroma(other)) >= CHROMA:
                kept += apart(one, other) < HUE
                changed += apart(one, other) >= HUE
            else:
                grey, colour = (one, other) if chroma(one) < chroma(other) else (other, one)
                changed += abs(one[0] - other[0]) >= LIGHTNESS or (
                    grey[0] < DARK and chroma(colour) >= TONED
                )
        if min(kept, changed) < RECOLOURED * len(colours):
            return 0.0
        return round(changed / len(colours), 4)

    rng = np.random.default_rng(11)
    for _ in range(200):
        colours = rng.uniform([0, -60, -60], [100, 60, 60], (64, 2, 3)).astype(np.float32)
        colours[rng.random(64) < 0.3, :, 1:] *= 0.1  # some greys
        assert hues_changed(colours) == loop(colours)


def test_a_blank_canvas_is_the_flat_tone_along_the_edge():
    """The corners a turn within the frame leaves black are canvas; the photograph is not."""
    from conftest import real_photo
    from PIL import Image

    from similar.verification.overlap import BLANK_SHARE, blank

    photo = real_photo("rocket", size=192).convert("L")
    turned = photo.rotate(20, Image.Resampling.BICUBIC, expand=False, fillcolor=0)
    canvas = blank(np.asarray(turned))
    assert canvas[0, 0] and canvas[-1, -1] and canvas[0, -1] and canvas[-1, 0]
    assert not canvas[40:152, 40:152].any()
    assert 0.05 < canvas.mean() < 0.3
    assert blank(np.asarray(photo)).mean() < BLANK_SHARE


def test_the_ground_a_small_drawing_stands_on_is_not_left_out():
    """A pip on a card's white: the white is most of the picture, its ground, which every
    crop of the card shares; leaving it out would make the pip alone the picture."""
    import cv2

    from similar.verification.overlap import blank, drawn_share

    pip = np.full((192, 128), 250, np.uint8)
    cv2.circle(pip, (64, 96), 20, 30, -1)
    polygon = np.array([[0, 0], [64, 0], [64, 96], [0, 96]], np.float32)
    assert drawn_share(blank(pip), (128, 192), polygon) is None
