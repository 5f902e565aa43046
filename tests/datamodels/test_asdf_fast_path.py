"""The empty ASDF tree is written and read without the asdf library (which loads every extension)."""

import io

import asdf
import numpy as np
from astropy.io import fits

from webbflow.datamodels import ImageModel, base


def _header():
    h = fits.Header()
    h["INSTRUME"] = "NIRCAM"
    h["DETECTOR"] = "NRCB1"
    return h


def test_empty_tree_bytes_are_what_asdf_writes():
    buffer = io.BytesIO()
    asdf.AsdfFile({}).write_to(buffer)
    assert base._empty_asdf_bytes() == buffer.getvalue()
    assert base._is_empty_tree(buffer.getvalue())


def test_trees_with_items_or_blocks_are_not_empty():
    for tree in ({"wcs_note": 1}, {"a": np.arange(5)}):
        buffer = io.BytesIO()
        asdf.AsdfFile(tree).write_to(buffer)
        assert not base._is_empty_tree(buffer.getvalue())


def test_round_trips(tmp_path):
    data = np.ones((4, 5), np.float32)
    for tree in ({}, {"note": "kept"}):
        path = tmp_path / "x_rate.fits"
        ImageModel(meta=_header(), data=data, asdf_tree=tree).save(path)
        back = ImageModel.read(path)
        assert back.asdf_tree == tree
        with fits.open(path) as hdul:
            raw = bytes(np.asarray(hdul["ASDF"].data["ASDF_METADATA"][0], dtype=np.uint8))
        with asdf.open(io.BytesIO(raw)) as af:
            assert {k: v for k, v in af.tree.items() if k not in ("asdf_library", "history")} == tree
