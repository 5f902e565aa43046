"""detector1 on an exposure too large to hold in memory: integrations in chunks, pixels in row blocks.

The memory of :func:`webbflow.pipelines.detector1.run_file` is otherwise
proportional to the number of integrations (a 300-integration TSO ramp is
1.8 GiB before any step runs). Here it is bounded by a budget instead:

1. The steps before jump act on each integration independently (for the
   near-infrared detectors; MIRI's reset, rscd and multi-integration darks
   depend on the integration's place in the exposure, so MIRI is not chunked).
   They run on chunks of integrations read from the uncal file; the ramp
   (float32 SCI and uint8 GROUPDQ) goes to two scratch files.
2. jump and ramp_fit pool the integrations of each pixel but act pixel by
   pixel, except for jump's four-neighbour flagging (one row of halo is
   enough) and the choices made on the whole exposure (the detection mode,
   groups DO_NOT_USE everywhere, groups flagged everywhere after sigma
   clipping), which are computed on the whole exposure and passed in. They
   run on blocks of rows read from the scratch files.
3. The rate image is small; the rateints arrays go to scratch files and
   are streamed into the product.

The products are bit for bit those of the in-memory path
(``tests/pipelines/test_chunking.py``). Cases the chunks cannot reproduce
(MIRI, a user's replacement callable, clean_flicker_noise, jump's
large-event flagging, a ramp_fit algorithm other than OLS) are left to the
in-memory path by :func:`chunking_plan`.
"""

import os
import shutil
from types import SimpleNamespace

import numba
import numpy as np

from webbflow import dqflags
from webbflow.atomic import temporary_directory_beside

#: Bytes of ramp (float32 SCI + uint8 GROUPDQ) in memory at a time when chunking.
MEMORY_BUDGET = 256 * 1024 ** 2

# bytes per pixel-group of the ramp in memory (float32 data + uint8 group DQ)
_RAMP_BYTES = 5
# bytes per pixel-integration of the rateints arrays (4 float32 + 1 uint32)
_INTS_BYTES = 20
_INTS_ARRAYS = (("data", "slope", np.float32), ("err", "err", np.float32), ("dq", "dq", np.uint32),
                ("var_poisson", "var_poisson", np.float32), ("var_rnoise", "var_rnoise", np.float32))


def chunking_plan(model, planned, memory_budget=MEMORY_BUDGET, chunk_ints=None, chunk_rows=None):
    """Integrations per chunk and rows per block, or None to run in memory.

    Parameters
    ----------
    model : webbflow.datamodels.RampModel
        Chunked only while its SCI has not been read (an uncal file read lazily).
    planned : list
        :func:`webbflow.pipelines.detector1.plan`.
    memory_budget : int or None
        Bytes of ramp held at a time; the exposure is chunked when its ramp is
        larger. None: never chunk (unless ``chunk_ints`` is given).
    chunk_ints, chunk_rows : int, optional
        Force these sizes (tests).

    Returns
    -------
    tuple of (int, int) or None
    """
    if not getattr(model, "is_lazy", False):
        return None
    nints, ngroups, ny, nx = model.shape
    ramp_bytes = nints * ngroups * ny * nx * _RAMP_BYTES
    if chunk_ints is None and (memory_budget is None or ramp_bytes <= memory_budget):
        return None
    if not _chunkable(model, planned):
        return None
    budget = memory_budget or MEMORY_BUDGET
    if chunk_ints is None:
        chunk_ints = max(1, budget // (ngroups * ny * nx * _RAMP_BYTES))
    if chunk_rows is None:
        per_row = nints * nx * (ngroups * _RAMP_BYTES + _INTS_BYTES)
        chunk_rows = max(1, budget // per_row)
    return int(min(chunk_ints, nints)), int(min(chunk_rows, ny))


def _chunkable(model, planned):
    if str(model.meta.get("INSTRUME", "")).strip().upper() == "MIRI":
        return False
    names = [entry[0] for entry in planned]
    if "jump" not in names or "ramp_fit" not in names or names.index("jump") > names.index("ramp_fit"):
        return False
    for name, module, function, params, skip in planned:
        if function is not module.run:
            return False  # a user's callable: nothing says it is local
        if skip:
            continue
        if name == "clean_flicker_noise":
            return False
        if name == "jump" and (params.get("expand_large_events") or params.get("find_showers")):
            return False
        if name == "ramp_fit" and str(params.get("algorithm", "OLS")).upper() not in ("OLS", "OLS_C"):
            return False
    after = names[names.index("jump") + 1:names.index("ramp_fit")]
    return all(skip for name, _m, _f, _p, skip in planned if name in after)


def run_chunked(model, rate_path, rateints_path, refs, planned, sizes, context=None, threads=1, log=None):
    """Run detector1 on ``model`` in chunks and write the two products.

    Parameters
    ----------
    model : webbflow.datamodels.RampModel
        A lazily read uncal file.
    rate_path, rateints_path : str
    refs : dict
    planned : list
        :func:`webbflow.pipelines.detector1.plan` of the exposure.
    sizes : tuple of (int, int)
        Integrations per chunk and rows per block (:func:`chunking_plan`).
    context, threads, log
        As for :func:`webbflow.pipelines.detector1.run`.

    Returns
    -------
    rate : webbflow.datamodels.ImageModel
    rateints : webbflow.datamodels.CubeModel
        Its arrays are empty (nints = 0): the integrations are in the file only.
    """
    from webbflow.pipelines import detector1 as pipeline

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    log = log or (lambda line: None)
    work = temporary_directory_beside(rateints_path)  # removed by a later job if this one is killed
    try:
        names = [entry[0] for entry in planned]
        before = planned[:names.index("jump")]
        ramp = _ramp_before_jump(model, before, refs, work, sizes[0], log, pipeline)
        rate, rateints = _jump_and_fit(model, ramp, planned, refs, work, sizes[1], log, pipeline)
        meta = ramp.meta
        for name, module, function, params, skip in planned[names.index("ramp_fit") + 1:]:
            step_refs, skip = pipeline._resolve_step(name, module, refs, skip, model.path, log)
            rate = pipeline._apply(function, rate, step_refs, params, module, skip, name)
            rateints = pipeline._apply(function, rateints, step_refs, params, module, skip, name)
            ramp.post.append((function, step_refs, params, module, name,
                              rateints.meta.get(module.STATUS_KEYWORD) == "COMPLETE" and not skip))
            log(f"{name}: {rate.meta.get(module.STATUS_KEYWORD, 'COMPLETE')}")
        pipeline._finish((rate, rateints), meta, planned, context, refs, threads)
        base = os.path.basename(model.path or "")
        for product, path in ((rate, rate_path), (rateints, rateints_path)):
            product.meta["FILENAME"] = os.path.basename(path)
            product.meta["ORIGFILE"] = base
        _write_rateints(rateints, rateints_path, ramp, work)
        try:
            rate.save(rate_path)
        except BaseException:
            os.remove(rateints_path)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rate, rateints


def _ramp_before_jump(model, before, refs, work, per_chunk, log, pipeline):
    """Run the steps before jump on chunks of integrations; the ramp goes to scratch files."""
    from webbflow.datamodels import RampModel
    from webbflow.steps.detector1._jump_kernels import planes_all_flagged

    nints, ngroups, ny, nx = model.shape
    pixeldq = np.zeros((ny, nx), dtype=np.uint32)
    all_dnu = np.zeros((nints, ngroups), dtype=bool)
    chunk = None
    with open(os.path.join(work, "data"), "wb") as fdata, open(os.path.join(work, "groupdq"), "wb") as fdq:
        for start in range(0, nints, per_chunk):
            stop = min(start + per_chunk, nints)
            chunk = RampModel(meta=model.meta.copy(), sci_meta=model.sci_meta.copy(), int_times=model.int_times,
                              asdf_tree=dict(model.asdf_tree), data=model.read_integrations(start, stop))
            chunk.path = model.path
            for name, module, function, params, skip in before:
                step_refs, skip = pipeline._resolve_step(name, module, refs, skip, model.path,
                                                         log if start == 0 else (lambda line: None))
                chunk = pipeline._apply(function, chunk, step_refs, params, module, skip, name)
                if start == 0:
                    log(f"{name}: {chunk.meta.get(module.STATUS_KEYWORD, 'COMPLETE')}")
            np.ascontiguousarray(chunk.data, dtype=np.float32).tofile(fdata)
            np.ascontiguousarray(chunk.groupdq, dtype=np.uint8).tofile(fdq)
            pixeldq |= chunk.pixeldq
            all_dnu[start:stop] = planes_all_flagged(np.ascontiguousarray(chunk.groupdq, dtype=np.uint8),
                                                     np.uint8(dqflags.DO_NOT_USE))
            chunk.data = chunk.groupdq = None
    return SimpleNamespace(meta=chunk.meta, sci_meta=chunk.sci_meta, pixeldq=pixeldq, all_dnu=all_dnu,
                           shape=(nints, ngroups, ny, nx), post=[])


# Scratch arrays are read and written with pread/pwrite, not memory-mapped: pages of a mapped
# file count in the process's resident memory, and faulting maps far more than the rows asked for.

def _rows(path, dtype, shape, r0, r1):
    """Rows ``r0:r1`` of every plane of a scratch array of ``shape`` (C order), as a new array."""
    *planes, ny, nx = shape
    dtype = np.dtype(dtype)
    out = np.empty((*planes, r1 - r0, nx), dtype=dtype)
    flat = out.reshape(-1, r1 - r0, nx)
    plane_bytes = ny * nx * dtype.itemsize
    fd = os.open(path, os.O_RDONLY)
    try:
        for k in range(flat.shape[0]):
            view = memoryview(flat[k]).cast("B")
            got = os.preadv(fd, [view], k * plane_bytes + r0 * nx * dtype.itemsize)
            if got != view.nbytes:
                raise OSError(f"short read from the scratch file {path}")
    finally:
        os.close(fd)
    return out


def _write_rows(path, block, shape, r0):
    """Write ``block`` (planes x rows x nx) as rows ``r0:`` of every plane of a scratch array."""
    *_planes, ny, nx = shape
    flat = np.ascontiguousarray(block).reshape(-1, block.shape[-2], nx)
    plane_bytes = ny * nx * flat.dtype.itemsize
    fd = os.open(path, os.O_WRONLY)
    try:
        for k in range(flat.shape[0]):
            os.pwrite(fd, memoryview(flat[k]).cast("B"), k * plane_bytes + r0 * nx * flat.dtype.itemsize)
    finally:
        os.close(fd)


def _planes(path, dtype, shape, start, stop):
    """Planes ``start:stop`` (first axis) of a scratch array of ``shape``."""
    dtype = np.dtype(dtype)
    per = int(np.prod(shape[1:]))
    with open(path, "rb") as f:
        f.seek(start * per * dtype.itemsize)
        out = np.fromfile(f, dtype=dtype, count=(stop - start) * per)
    return out.reshape(stop - start, *shape[1:])


def _jump_and_fit(model, ramp, planned, refs, work, per_block, log, pipeline):
    """jump and ramp_fit on blocks of rows; the rateints arrays go to scratch files."""
    from webbflow.datamodels import CubeModel, ImageModel
    from webbflow.steps.detector1 import _jump_kernels, jump, ramp_fit

    nints, ngroups, ny, nx = ramp.shape
    meta = ramp.meta
    entries = {entry[0]: entry for entry in planned}
    _, jmodule, _, jparams, jskip = entries["jump"]
    jrefs, jskip = pipeline._resolve_step("jump", jmodule, refs, jskip, model.path, log)
    _, rmodule, _, rparams, rskip = entries["ramp_fit"]
    rrefs, rskip = pipeline._resolve_step("ramp_fit", rmodule, refs, rskip, model.path, log)
    if rskip:
        from webbflow.errors import WebbflowError

        raise WebbflowError(None, "ramp_fit cannot be skipped: detector1 must produce rate files")
    shim = SimpleNamespace(meta=meta, data=np.broadcast_to(np.float32(0), (1, 1, ny, nx)))
    nframes, tgroup = int(meta.get("NFRAMES", 1)), float(meta["TGROUP"])

    jump_runs = not jskip and ngroups > 2
    meta.remove(jmodule.STATUS_KEYWORD, ignore_missing=True)
    if not jump_runs:
        meta[jmodule.STATUS_KEYWORD] = "SKIPPED"  # skipped, or NGROUPS <= 2 (as jump.run)
    if jump_runs:
        jgain, jreadnoise = ramp_fit.reference_arrays(shim, jrefs)
    settings = dict(rmodule.DEFAULTS)
    settings.update(rparams or {})
    (gain, readnoise), (gain_header, _) = ramp_fit.reference_arrays(shim, rrefs, with_headers=True)

    rate = {key: np.empty((ny, nx), dtype) for _, key, dtype in _INTS_ARRAYS}
    ints_paths = {key: os.path.join(work, f"ints_{key}") for _, key, _ in _INTS_ARRAYS}
    for _, key, dtype in _INTS_ARRAYS:
        with open(ints_paths[key], "wb") as f:
            f.truncate(nints * ny * nx * np.dtype(dtype).itemsize)
    ramp_shape = (nints, ngroups, ny, nx)
    data_path, gdq_path = os.path.join(work, "data"), os.path.join(work, "groupdq")
    pixeldq_out = ramp.pixeldq.copy()
    unflag = np.zeros((nints, ngroups), dtype=bool)
    for _attempt in range(2):
        n_primary, mode = 0, None
        flagged = np.ones((nints, ngroups), dtype=bool)
        for r0 in range(0, ny, per_block):
            r1 = min(r0 + per_block, ny)
            h0, h1 = (max(r0 - 1, 0), min(r1 + 1, ny)) if jump_runs else (r0, r1)
            data = _rows(data_path, np.float32, ramp_shape, h0, h1)
            groupdq = _rows(gdq_path, np.uint8, ramp_shape, h0, h1)
            pixeldq = np.ascontiguousarray(ramp.pixeldq[h0:h1])
            own = slice(r0 - h0, r1 - h0)
            if jump_runs:
                result = jump.detect_jumps(data, groupdq, pixeldq, jgain[h0:h1], jreadnoise[h0:h1], nframes=nframes,
                                           tgroup=tgroup, params=jparams, all_dnu=ramp.all_dnu,
                                           rows=(own.start, own.stop), unflag_planes=unflag)
                n_primary += result["n_primary"]
                flagged &= result["all_flagged"]
                mode = result["mode"]
            pixeldq_out[r0:r1] = pixeldq[own]
            block_rate, block_ints = ramp_fit.fit_arrays(
                data[:, :, own], groupdq[:, :, own], pixeldq[own], gain[r0:r1], readnoise[r0:r1],
                nframes=nframes, tgroup=tgroup, tframe=float(meta["TFRAME"]),
                instrument=str(meta.get("INSTRUME", "")).strip().upper(),
                suppress_one_group=settings["suppress_one_group"],
                firstgroup=settings.get("firstgroup"), lastgroup=settings.get("lastgroup"))
            del data, groupdq
            for _, key, _dtype in _INTS_ARRAYS:
                rate[key][r0:r1] = block_rate[key]
                _write_rows(ints_paths[key], block_ints[key], (nints, ny, nx), r0)
            del block_ints
        if jump_runs and mode == _jump_kernels.SIGMA_CLIP and flagged.any() and not unflag.any():
            unflag = flagged  # groups flagged everywhere keep no JUMP-only flags: once more, knowing them
            continue
        break
    if jump_runs:
        jump.record_rates(meta, {"n_primary": n_primary, "n_events": 0, "mode": mode, "all_dnu": ramp.all_dnu},
                          ramp_shape, tgroup)
    if not jskip:
        pipeline._set_status(SimpleNamespace(meta=meta), jmodule, meta.get(jmodule.STATUS_KEYWORD, "COMPLETE"), jrefs)
    log(f"jump: {meta.get(jmodule.STATUS_KEYWORD, 'COMPLETE')}")
    names = [entry[0] for entry in planned]
    for name, module, _function, _params, _skip in planned[names.index("jump") + 1:names.index("ramp_fit")]:
        meta[module.STATUS_KEYWORD] = "SKIPPED"  # only skipped steps lie between (see _chunkable)
        log(f"{name}: SKIPPED")
    pipeline._set_status(SimpleNamespace(meta=meta), rmodule, "COMPLETE", rrefs)
    ramp.pixeldq = pixeldq_out
    ramp.ints_paths = ints_paths

    gain_factor = gain_header.get("GAINFACT")
    products = []
    for cls, arrays in ((ImageModel, rate), (CubeModel, None)):
        kwargs = {}
        if arrays is not None:
            kwargs = {attr: arrays[key] for attr, key, _ in _INTS_ARRAYS}
        else:
            kwargs = {attr: np.zeros((0, ny, nx), dtype) for attr, _, dtype in _INTS_ARRAYS}
        product = cls(meta=meta.copy(), sci_meta=ramp.sci_meta.copy(),
                      int_times=None if cls is ImageModel or model.int_times is None else np.array(model.int_times),
                      **kwargs)
        product.sci_meta["BUNIT"] = "DN/s"
        if gain_factor is not None:
            product.meta["GAINFACT"] = gain_factor
        pipeline._inherit_keywords(product, SimpleNamespace(meta=meta))
        products.append(product)
    log("ramp_fit: COMPLETE")
    return products[0], products[1]


def _write_rateints(rateints, path, ramp, work):
    """Stream the rateints arrays from the scratch files into the product (steps after ramp_fit applied)."""
    from webbflow.datamodels import CubeModel
    from webbflow.datamodels.image import save_cube_streamed

    nints, _ngroups, ny, nx = ramp.shape
    keys = {attr: (key, dtype) for attr, key, dtype in _INTS_ARRAYS}

    def read(attr, start, stop):
        arrays = {}
        for name, (key, dtype) in keys.items():
            if name != attr and not ramp.post:
                continue
            arrays[name] = _planes(ramp.ints_paths[key], dtype, (nints, ny, nx), start, stop)
        if ramp.post:  # e.g. gain_scale: elementwise on every integration
            chunk = CubeModel(meta=rateints.meta.copy(), **arrays)
            for function, step_refs, params, _module, _name, applies in ramp.post:
                if applies:
                    chunk = function(chunk, step_refs, params)
            return getattr(chunk, attr)
        return arrays[attr]

    save_cube_streamed(rateints, path, (nints, ny, nx), read)
