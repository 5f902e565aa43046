"""PNG previews of 2-D products: size, masking, stretch, determinism, bad input."""

import struct

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from webbflow import dqflags
from webbflow.datamodels import CubeModel, ImageModel
from webbflow.errors import InputError, OutputError
from webbflow.preview import (
    PREVIEW_SIZE,
    THUMBNAIL_SIZE,
    downsample,
    preview_array,
    stretch,
    write_preview,
)


def _header():
    header = fits.Header()
    header["INSTRUME"] = "NIRCAM"
    header["DETECTOR"] = "NRCB1"
    return header


def _scene(shape=(300, 400), seed=1):
    """Noise plus a bright square: a rate-like image."""
    rng = np.random.default_rng(seed)
    data = rng.normal(1.0, 0.1, size=shape).astype(np.float32)
    data[100:140, 200:240] += 30.0
    return data


def _chunks(raw):
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    names, i = [], 8
    while i < len(raw):
        (length,) = struct.unpack(">I", raw[i:i + 4])
        names.append(raw[i + 4:i + 8])
        i += 12 + length
    return names


@pytest.mark.parametrize(("shape", "size", "expected"), [
    ((2048, 2048), PREVIEW_SIZE, (512, 512)),
    ((2048, 2048), THUMBNAIL_SIZE, (128, 128)),
    ((1024, 1032), PREVIEW_SIZE, (508, 512)),   # 1024 * 512 / 1032 = 508.0
    ((1100, 700), PREVIEW_SIZE, (512, 326)),    # 700 * 512 / 1100 = 325.8
    ((64, 2048), PREVIEW_SIZE, (16, 512)),
    ((300, 400), PREVIEW_SIZE, (300, 400)),     # small images are never enlarged
])
def test_preview_shape(shape, size, expected):
    image = preview_array(np.ones(shape, dtype=np.float32) + np.arange(shape[1]), size=size)
    assert image.shape == expected and image.dtype == np.uint8
    assert max(image.shape) <= size


def test_written_png_is_greyscale_of_the_right_size(tmp_path):
    model = ImageModel(meta=_header(), data=_scene((1100, 700)))
    path = write_preview(model, tmp_path / "x_rate.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "L"
        assert image.size == (326, 512)  # (width, height)
        pixels = np.asarray(image)
    np.testing.assert_array_equal(pixels, preview_array(model.data))


def test_block_average_uses_only_good_pixels():
    data = np.arange(16, dtype=float).reshape(4, 4)
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    mask[2:, 2:] = True
    small = downsample(data, mask, 2)
    assert small[0, 0] == pytest.approx((1 + 4 + 5) / 3)
    assert small[0, 1] == pytest.approx((2 + 3 + 6 + 7) / 4)
    assert np.isnan(small[1, 1])


def test_nan_and_do_not_use_pixels_are_masked():
    data = _scene()
    dq = np.zeros(data.shape, np.uint32)
    hidden = np.zeros(data.shape, bool)
    hidden[10:20, 10:20] = True      # DO_NOT_USE (with other bits too) and absurd values
    hidden[250, 50:90] = True         # NaN
    dirty = data.copy()
    dirty[10:20, 10:20] = 1e30
    dq[10:20, 10:20] = dqflags.DO_NOT_USE | dqflags.SATURATED
    dirty[250, 50:90] = np.nan
    clean = preview_array(data, size=1000)
    masked = preview_array(dirty, dq, size=1000)
    flipped = hidden[::-1]
    assert (masked[flipped] == 0).all()          # masked pixels are black
    # the masked pixels change neither the stretch nor any other pixel beyond
    # the percentile shift of removing 140 of 120000 pixels: at most one grey level
    assert np.abs(masked[~flipped].astype(int) - clean[~flipped]).max() <= 1
    # downsampled 4x (400 -> 100): output pixels wholly inside the mask are black, the
    # ones touching it average only good pixels, none of the rest changes
    small = preview_array(dirty, dq, size=100)[::-1]
    ref = preview_array(data, size=100)[::-1]
    assert small.shape == (75, 100)
    assert (small[3:5, 3:5] == 0).all()
    touched = np.zeros(small.shape, bool)
    touched[2:5, 2:5] = True
    touched[62, 12:23] = True
    assert np.abs(small.astype(int) - ref)[~touched].max() <= 1
    assert small[touched].max() < 255   # the 1e30 values do not leak in
    # a flag other than DO_NOT_USE does not mask
    dq[10:20, 10:20] = dqflags.SATURATED
    np.testing.assert_array_equal(preview_array(data, dq, size=1000), clean)


def test_all_masked_image_is_black_and_constant_image_grey():
    assert (preview_array(np.full((40, 50), np.nan)) == 0).all()
    assert (preview_array(np.ones((40, 50)), np.full((40, 50), dqflags.DO_NOT_USE)) == 0).all()
    assert (preview_array(np.full((40, 50), 3.0)) == 128).all()


def test_stretch_is_monotonic_and_spans_the_percentiles():
    rng = np.random.default_rng(2)
    values = np.sort(rng.lognormal(size=10_000))
    out = stretch(values, lower=1, upper=99)
    assert np.all(np.diff(out) >= 0)
    lo, hi = np.percentile(values, [1, 99])
    inside = (values > lo) & (values < hi)
    assert np.all(np.diff(out[inside]) > 0)    # strictly increasing between the percentiles
    assert out[values <= lo].max() == 0.0 and out[values >= hi].min() == 1.0
    # asinh lifts the faint end: the midpoint of the range is well above 0.5
    assert stretch(np.array([0.0, 0.5, 1.0]), lower=0, upper=100)[1] > 0.7
    with pytest.raises(ValueError):
        stretch(values, lower=50, upper=10)


def test_row_one_is_at_the_bottom():
    data = np.zeros((50, 60))
    data[0] = 10.0                     # first FITS row: the bottom of the displayed image
    image = preview_array(data)
    assert (image[-1] == 255).all() and (image[:-1] == 0).all()


def test_identical_bytes_and_no_metadata(tmp_path):
    model = ImageModel(meta=_header(), data=_scene((700, 900)), dq=np.zeros((700, 900), np.uint32))
    a = write_preview(model, tmp_path / "a.png")
    b = write_preview(model, tmp_path / "b.png")
    path = tmp_path / "x_rate.fits"
    model.save(path)
    c = write_preview(path, tmp_path / "c.png")
    raw = open(a, "rb").read()
    assert raw == open(b, "rb").read() == open(c, "rb").read()
    assert set(_chunks(raw)) == {b"IHDR", b"IDAT", b"IEND"}   # no tIME, tEXt, pHYs ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png", "x_rate.fits"]


def test_bad_input_gives_one_clear_line(tmp_path):
    missing = tmp_path / "missing_rate.fits"
    with pytest.raises(InputError, match="missing_rate.fits: file does not exist"):
        write_preview(missing, tmp_path / "m.png")
    cube = tmp_path / "x_rateints.fits"
    CubeModel(meta=_header(), data=np.ones((2, 10, 12))).save(cube)
    with pytest.raises(InputError, match=r"x_rateints.fits: SCI has 3 dimensions; a preview needs a 2-D image"):
        write_preview(cube, tmp_path / "c.png")
    with pytest.raises(ValueError, match="real-valued"):
        preview_array(np.ones((4, 4), complex))
    with pytest.raises(ValueError, match="DQ has shape"):
        preview_array(np.ones((4, 4)), np.zeros((4, 5), np.uint32))
    with pytest.raises(ValueError, match="integer flags"):
        preview_array(np.ones((4, 4)), np.zeros((4, 4)))
    model = ImageModel(meta=_header(), data=_scene())
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError, match="dir.png: is a directory"):
        write_preview(model, tmp_path / "dir.png")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot write the preview there"):
        write_preview(model, tmp_path / "file" / "x.png")
    assert not (tmp_path / "m.png").exists() and not (tmp_path / "c.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
