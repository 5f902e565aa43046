"""The WCS of a calibrated image: a gwcs object in the ASDF extension, as the official files keep it.

The official ``_cal`` (and ``_i2d``) products store the generalized WCS
in the ASDF extension under the tree key ``meta: {wcs: <gwcs>}``; the
official data models read it back from there as ``model.meta.wcs``. Our
models keep the same object in ``asdf_tree["meta"]["wcs"]`` so that a
file written here opens with a WCS in the official ``jwst.datamodels``
and an official file opens with its WCS here.

An official file's ASDF tree also points into its FITS extensions
(``source: fits:SCI,1``), which the plain ``asdf`` library cannot
resolve; :func:`read_wcs` therefore opens the tree lazily and takes only
``meta.wcs``.
"""

import io
import os
import warnings

import numpy as np

from webbflow.errors import InputError

#: Where the WCS sits in the ASDF tree of an official product.
WCS_TREE_PATH = ("meta", "wcs")


def get_wcs(tree):
    """The gwcs stored in an ASDF tree (``tree["meta"]["wcs"]``), or None."""
    meta = (tree or {}).get(WCS_TREE_PATH[0])
    if not isinstance(meta, dict):
        return None
    return meta.get(WCS_TREE_PATH[1])


def set_wcs(tree, wcs):
    """Store ``wcs`` at ``tree["meta"]["wcs"]`` (remove it when ``wcs`` is None)."""
    meta = tree.get(WCS_TREE_PATH[0])
    if not isinstance(meta, dict):
        meta = tree[WCS_TREE_PATH[0]] = {}
    if wcs is None:
        meta.pop(WCS_TREE_PATH[1], None)
        if not meta:
            tree.pop(WCS_TREE_PATH[0], None)
    else:
        meta[WCS_TREE_PATH[1]] = wcs


def wcs_from_asdf_bytes(raw, path="<memory>"):
    """The gwcs of an ASDF document (the bytes of a product's ASDF extension).

    Parameters
    ----------
    raw : bytes
        The ASDF file.
    path : str
        The product, named in error messages.

    Returns
    -------
    gwcs.WCS or None
        None when the tree has no ``meta.wcs``.

    Raises
    ------
    InputError
        When the ASDF document or its WCS cannot be read.
    """
    import asdf

    if b"wcs" not in raw:
        return None  # cheap check: no tree key or tag names a WCS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # official trees carry tags of the jwst extensions
            # lazy: the official tree's arrays live in FITS extensions the asdf library cannot open
            with asdf.open(io.BytesIO(raw), lazy_load=True, memmap=False) as af:
                meta = af.tree.get(WCS_TREE_PATH[0])
                wcs = meta.get(WCS_TREE_PATH[1]) if hasattr(meta, "get") else None
                if wcs is not None and not hasattr(wcs, "forward_transform"):
                    raise TypeError(f"meta.wcs is a {type(wcs).__name__}, not a gwcs WCS")
                return wcs
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise InputError(path, f"the WCS in the ASDF extension is not readable ({text[0] if text else type(exc).__name__})") from None


def read_wcs(path):
    """Read only the gwcs of a product file (ours or an official one).

    Parameters
    ----------
    path : str or os.PathLike
        A FITS product with an ASDF extension.

    Returns
    -------
    gwcs.WCS or None
        None when the file has no ASDF extension or no WCS in it.
    """
    from astropy.io import fits

    path = os.fspath(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            if "ASDF" not in hdul:
                return None
            raw = bytes(np.asarray(hdul["ASDF"].data["ASDF_METADATA"][0], dtype=np.uint8))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise InputError(path, f"not a readable FITS file ({text[0] if text else type(exc).__name__})") from None
    return wcs_from_asdf_bytes(raw, path)


def require_wcs(model, what="this step"):
    """The model's gwcs; an InputError naming its file when it has none.

    Parameters
    ----------
    model : webbflow.datamodels.ImageModel
    what : str
        Who needs the WCS, for the message.
    """
    wcs = getattr(model, "wcs", None)
    if wcs is None:
        raise InputError(getattr(model, "path", None),
                         f"has no WCS (no meta.wcs in its ASDF extension); {what} needs a calibrated image "
                         "that went through assign_wcs (image2)")
    return wcs


def s_region(wcs, shape):
    """The official S_REGION keyword: the footprint polygon of the image on the sky.

    Parameters
    ----------
    wcs : gwcs.WCS
    shape : tuple of int
        (ny, nx) of the image; used when the WCS has no bounding box.

    Returns
    -------
    str
        ``"POLYGON ICRS ra1 dec1 ra2 dec2 ra3 dec3 ra4 dec4"`` (degrees): the
        corners of the bounding box (pixel edges) in the order of the
        official products (gwcs's footprint: lower left, upper left, upper
        right, lower right in pixels).
    """
    try:
        bbox = wcs.bounding_box
        bbox = tuple(tuple(b) for b in bbox)
    except (NotImplementedError, TypeError, ValueError):
        bbox = None
    if bbox is None:
        bbox = ((-0.5, shape[-1] - 0.5), (-0.5, shape[-2] - 0.5))
    corners = wcs.footprint(bounding_box=bbox, center=False)
    return "POLYGON ICRS " + " ".join(f"{np.mod(a, 360.0):.9f} {d:.9f}" for a, d in corners)


class WcsMixin:
    """The ``wcs`` attribute of image models: the gwcs at ``asdf_tree["meta"]["wcs"]``.

    A model read from a file whose ASDF tree our reader could not take
    whole (an official product) gets its WCS from the file on first use.
    """

    @property
    def wcs(self):
        """The gwcs of the image (``gwcs.WCS``), or None before assign_wcs."""
        wcs = get_wcs(self.asdf_tree)
        path = getattr(self, "path", None)
        if wcs is None and path and not getattr(self, "_wcs_looked_up", False) and os.path.isfile(path):
            self._wcs_looked_up = True
            wcs = read_wcs(path)
            if wcs is not None:
                set_wcs(self.asdf_tree, wcs)
        return wcs

    @wcs.setter
    def wcs(self, value):
        set_wcs(self.asdf_tree, value)
        self._wcs_looked_up = True
