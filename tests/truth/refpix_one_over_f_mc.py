"""Monte Carlo: how much the reference-pixel offset moves the pull mean of one exposure.

Not a test (pytest does not collect it): it backs the numbers quoted in
``test_detector1_truth.py``. Ramps of the simulator's white read noise and
1/f noise alone (``webbflow.simulate.ramps``), one exposure of the default
program's subarray and readout, are fitted by least squares; the pull of a
pixel is its slope over the slope error from the total (white + 1/f) read
noise, as ERR has it for read-noise-limited pixels. For each way of taking
the per-group offset that is subtracted from every pixel, the script prints
the mean and scatter, over realizations, of the exposure's mean pull:

* ``none``: nothing subtracted (the simulated 1/f has no frame-wide mean);
* ``all_refs``: mean of all reference pixels (the official one-output
  subarray correction);
* ``side_columns``: mean of the side reference columns without the
  top/bottom rows (``refpix`` ``subarray_side_columns_only``);
* ``dark_rows`` (NRS1): mean of the SUBS200A1 rows outside the slit mask
  (``clean_flicker_noise`` with ``mask_science_regions`` and no background).

Usage: ``python tests/truth/refpix_one_over_f_mc.py [NREALIZATIONS]`` (about
a minute for 100).
"""

import sys

import numpy as np

from webbflow.simulate.detector import DETECTORS, get_subarray, readout_shape, reference_pixel_mask, to_detector
from webbflow.simulate.ramps import _one_over_f

# detector: (subarray, frames per group, group gap, groups) of the default program
CASES = {"NRCB1": ("SUB160", 4, 1, 6), "NIS": ("SUB128", 4, 0, 5), "NRS1": ("SUBS200A1", 1, 0, 8)}


def realization(rng, spec, sub, nframes, ngroups):
    """Groups (ngroups, n_slow, n_fast) in the read-out frame: white read noise + 1/f, frames averaged."""
    nslow, nfast = readout_shape(spec, sub)
    groups = np.zeros((ngroups, nslow, nfast))
    for g in range(ngroups):
        for _ in range(nframes):
            flicker = _one_over_f(rng, nslow, nfast, 1, spec.one_over_f, spec.fastaxis, spec.slowaxis)
            groups[g] += to_detector(flicker, spec.fastaxis, spec.slowaxis)
            groups[g] += spec.readnoise / np.sqrt(2.0) * rng.standard_normal((nslow, nfast))
        groups[g] /= nframes
    return groups


def main(nrep=100):
    rng = np.random.default_rng(2024)
    for name, (subarray, nframes, _gap, ngroups) in CASES.items():
        spec = DETECTORS[name]
        sub = get_subarray(spec, subarray)
        ref = to_detector(reference_pixel_mask(spec)[sub.slices], spec.fastaxis, spec.slowaxis)
        science = ~ref
        t = np.arange(ngroups) - (ngroups - 1) / 2.0
        weights = t / (t**2).sum()
        total_frame = np.sqrt(spec.readnoise**2 + 2.0 * spec.one_over_f**2) / np.sqrt(2.0)
        sigma_slope = total_frame / np.sqrt(nframes) / np.sqrt((t**2).sum())
        selections = {"all_refs": ref}
        side = ref & ~ref.all(axis=1)[:, None]
        if side.any():
            selections["side_columns"] = side
        if name == "NRS1":
            # science frame rows outside the slit mask are read-out columns here (fast axis along y)
            y = np.arange(ref.shape[1])
            selections["dark_rows"] = science & (np.abs(y - 0.5 * (y.size - 1)) > 18.5)[None, :]
        results = {key: [] for key in ("none", *selections)}
        for _ in range(nrep):
            groups = realization(rng, spec, sub, nframes, ngroups)
            slope = np.tensordot(weights, groups, 1)
            results["none"].append((slope / sigma_slope)[science].mean())
            for key, sel in selections.items():
                offset = np.array([g[sel].mean() for g in groups])
                results[key].append(((slope - (weights * offset).sum()) / sigma_slope)[science].mean())
        for key, values in results.items():
            print(f"{name:6s} {key:13s} pull mean over realizations {np.mean(values):+.3f}, scatter {np.std(values):.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
