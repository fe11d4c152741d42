"""Correcting a mask: each tool produces exactly the expected pixels, and undo/redo restore them."""

from __future__ import annotations

import numpy as np
import pytest

from seg_core.labelling.mask_edit import MaskEditor, superpixels


def test_brush_paints_every_pixel_within_half_the_width_of_the_stroke():
    editor = MaskEditor(np.zeros((20, 30), np.uint8))
    editor.paint_stroke([(5, 10), (25, 10)], width=4, class_id=3)
    expected = np.zeros((20, 30), np.uint8)
    ys, xs = np.mgrid[0:20, 0:30]
    cx, cy = xs + 0.5, ys + 0.5
    t = np.clip((cx - 5) / 20, 0, 1)
    expected[np.hypot(cx - (5 + 20 * t), cy - 10) <= 2] = 3
    np.testing.assert_array_equal(editor.mask, expected)
    assert set(np.unique(editor.mask[8:12, 6:24])) == {3} and editor.mask[5, 15] == 0


def test_polygon_fills_exactly_its_inside():
    editor = MaskEditor(np.zeros((10, 10), np.uint8))
    editor.fill_polygon([(2, 2), (7, 2), (7, 6), (2, 6)], class_id=14)
    expected = np.zeros((10, 10), np.uint8)
    expected[2:7, 2:8] = 14  # scikit-image's polygon includes the vertices' rows and columns
    np.testing.assert_array_equal(editor.mask, expected)
    with pytest.raises(ValueError, match="at least 3 vertices"):
        editor.fill_polygon([(0, 0), (1, 1)], 1)


def test_superpixel_fill_covers_the_region_footprint_at_original_size():
    labels = np.zeros((4, 6), np.int32)
    labels[:, 3:] = 1  # right half of the working image is region 1
    editor = MaskEditor(np.zeros((40, 60), np.uint8))  # original is 10x the working size
    changed = editor.fill_superpixel(labels, x=45, y=5, class_id=23)
    expected = np.zeros((40, 60), np.uint8)
    expected[:, 30:] = 23
    np.testing.assert_array_equal(editor.mask, expected)
    assert changed == 40 * 30


def test_eraser_paints_background_and_undo_redo_restore_each_step():
    start = np.full((10, 10), 5, np.uint8)
    editor = MaskEditor(start)
    editor.fill_polygon([(0, 0), (4, 0), (4, 4), (0, 4)], 1)
    after_fill = editor.mask.copy()
    editor.erase_stroke([(2, 2)], width=3)
    assert editor.mask[2, 2] == 0 and editor.mask[8, 8] == 5
    assert editor.undo() and np.array_equal(editor.mask, after_fill)
    assert editor.undo() and np.array_equal(editor.mask, start)
    assert not editor.undo()
    assert editor.redo() and np.array_equal(editor.mask, after_fill)
    editor.paint_stroke([(9.5, 9.5)], 1, 2)  # a new edit clears what could be redone
    assert not editor.redo()


def test_bad_class_and_bad_superpixel_settings_are_named():
    editor = MaskEditor(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="class id 25"):
        editor.paint_stroke([(1, 1)], 2, 25)
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="'watershed' is not one of: slic, felzenszwalb"):
        superpixels(image, "watershed")


@pytest.mark.parametrize("method", ["slic", "felzenszwalb"])
def test_superpixels_follow_a_colour_edge(method):
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, 20:] = (200, 30, 30)
    labels = superpixels(image, method, regions=8)
    left, right = set(np.unique(labels[:, :19])), set(np.unique(labels[:, 21:]))
    assert not left & right  # no region straddles the edge
