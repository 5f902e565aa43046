"""ramp_fit with ``algorithm: LIKELY`` against simulated ramps of known rate (tests/steps/ramp_fixtures.py).

Tolerances come from the noise model. The LIKELY error is the exact GLS
variance of the slope for the modelled covariance, so a pull (fit - truth) /
ERR has mean 0 and standard deviation 1 up to the statistical error of N
pulls (1/sqrt(N) on the mean, 1/sqrt(2N) on the standard deviation) plus a
small allowance for the covariance being evaluated at a rate estimated from
the same ramp (a few per cent of sigma at most; Brandt 2024).
"""

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ramp_fixtures as rf  # noqa: E402

from webbflow import dqflags  # noqa: E402
from webbflow.errors import WebbflowError  # noqa: E402
from webbflow.steps.detector1 import _likely_kernels as likely  # noqa: E402
from webbflow.steps.detector1 import ramp_fit  # noqa: E402

DNU = dqflags.DO_NOT_USE
SAT = dqflags.SATURATED
JUMP = dqflags.JUMP_DET
NO_GAIN = dqflags.NO_GAIN_VALUE
# allowance (in units of sigma) for the covariance evaluated at the fitted rate, see the module docstring
SYSTEMATIC = 0.03


def fit(r, **kw):
    """The LIKELY fit of a Ramps bundle."""
    return likely.fit_arrays(r.data, r.groupdq, r.pixeldq, r.gain, r.readnoise, nframes=r.meta["NFRAMES"],
                             tgroup=r.tgroup, tframe=r.meta["TFRAME"], **kw)


def fit_ols(r):
    return ramp_fit.fit_arrays(r.data, r.groupdq, r.pixeldq, r.gain, r.readnoise, nframes=r.meta["NFRAMES"],
                               tgroup=r.tgroup, tframe=r.meta["TFRAME"])


def assert_pull(pull, label):
    pull = pull[np.isfinite(pull)]
    n = pull.size
    assert n > 300, label
    mean, std = pull.mean(), pull.std()
    assert abs(mean) <= SYSTEMATIC + 4 / np.sqrt(n), f"{label}: pull mean {mean:.4f} (N={n})"
    assert abs(std - 1) <= SYSTEMATIC + 4 / np.sqrt(2 * n), f"{label}: pull std {std:.4f} (N={n})"


def scatter_ratio(error, error_ols, scale, seed=0, nboot=200):
    """rms(error / scale) / rms(error_ols / scale) and its bootstrap standard error (pixels resampled together).

    ``scale`` (per pixel, the same for both) keeps the brightest pixels from dominating.
    """
    error = (error / scale).ravel()
    error_ols = (error_ols / scale).ravel()
    ratio = error.std() / error_ols.std()
    rng = np.random.default_rng(seed)
    boot = np.empty(nboot)
    for k in range(nboot):
        pick = rng.integers(0, error.size, error.size)
        boot[k] = error[pick].std() / error_ols[pick].std()
    return ratio, boot.std()


@pytest.fixture(scope="module")
def clean():
    return rf.make_ramps(ny=200, nx=200, ngroups=10, nints=1, seed=31)


def test_covariance_of_differences_matches_the_simulation():
    """The model covariance of the resultant differences is the simulated one (multi-read groups)."""
    r = rf.make_ramps(ny=100, nx=100, ngroups=6, nframes=4, groupgap=1, nints=1, seed=30,
                      rates=np.full((100, 100), 50.0))
    dt, a_read, b_read, a_phot, b_phot = likely.covariance_coefficients(6, 4, r.tgroup, r.meta["TFRAME"])
    diffs = np.diff(r.data[0].astype(float), axis=0) / dt[:, None, None]
    sigma2 = r.readnoise.astype(float) ** 2 / 2
    c_phot = r.rate / r.gain.astype(float)
    var = sigma2[None] * a_read[:, None, None] + c_phot[None] * a_phot[:, None, None]
    cov = sigma2[None] * b_read[:, None, None] + c_phot[None] * b_phot[:, None, None]
    z = (diffs - diffs.mean(axis=(1, 2), keepdims=True)) / np.sqrt(var)  # unit variance if the model is right
    n = z[0].size
    # 4 standard errors of a variance (sqrt(2/N)) and of a correlation (1/sqrt(N)) from N = 10^4 pixels
    np.testing.assert_allclose(z.reshape(5, -1).var(axis=1), 1.0, atol=4 * np.sqrt(2 / n))
    rho = cov / np.sqrt(var[:-1] * var[1:])
    # neighbours correlate (read noise negatively, Poisson noise of multi-read groups positively; +0.15 here),
    # far beyond the 0.01 standard error of the measured correlation
    assert np.all(np.abs(rho) > 0.1)
    np.testing.assert_allclose((z[:-1] * z[1:]).reshape(4, -1).mean(axis=1), rho.reshape(4, -1).mean(axis=1),
                               atol=4 / np.sqrt(n))


def test_pulls_clean_ramps(clean):
    rate, ints = fit(clean)
    assert rate["slope"].dtype == np.float32 and rate["dq"].dtype == np.uint32
    pull = (rate["slope"] - clean.rate) / rate["err"]
    assert_pull(pull, "all pixels")
    assert_pull(pull[clean.rate < 5.0], "faint pixels")
    assert_pull(pull[clean.rate > 50.0], "bright pixels")
    np.testing.assert_allclose(rate["err"] ** 2, rate["var_poisson"] + rate["var_rnoise"], rtol=1e-5)
    np.testing.assert_array_equal(ints["slope"][0], rate["slope"])
    # false jumps: a 4.5-sigma two-sided tail (6.8e-6) per difference, 9 differences per pixel
    expected = 6.8e-6 * 9 * clean.rate.size
    assert ((rate["dq"] & JUMP) != 0).sum() <= expected + 4 * np.sqrt(expected) + 1
    # the read-noise variance is at least that of the read-noise-only GLS (one read: R**2 / 2), which for 10
    # one-read groups is the OLS value 12 R**2 / ((n**3 - n) tgroup**2); it is close to it where the Poisson
    # share of a difference's variance is small (< 3 % below 1 DN/s here)
    dt, a_read, b_read, _, _ = likely.covariance_coefficients(10, 1, clean.tgroup, clean.meta["TFRAME"])
    cov = np.diag(a_read) + np.diag(b_read, 1) + np.diag(b_read, -1)
    minimum = (clean.readnoise.astype(float) ** 2 / 2) / np.linalg.inv(cov).sum()
    np.testing.assert_allclose(minimum, 12 * clean.readnoise.astype(float) ** 2 / 2 / (990 * clean.tgroup ** 2),
                               rtol=1e-6)
    assert np.all(rate["var_rnoise"] >= minimum * (1 - 1e-5))
    assert np.median((rate["var_rnoise"] / minimum)[clean.rate < 1.0]) < 1.05


def test_pulls_multi_read_groups_and_integrations():
    r = rf.make_ramps(ny=120, nx=120, ngroups=8, nframes=4, groupgap=1, nints=3, seed=32)
    rate, ints = fit(r)
    assert_pull((rate["slope"] - r.rate) / rate["err"], "rate")
    assert_pull((ints["slope"] - r.rate[None]) / ints["err"], "rateints")
    assert_pull(((rate["slope"] - r.rate) / rate["err"])[r.rate > 50.0], "rate, bright pixels")
    np.testing.assert_allclose(rate["err"] ** 2, rate["var_poisson"] + rate["var_rnoise"], rtol=1e-5)
    # combined as officially: weights 1/(var_poisson scaled to the combined rate + var_rnoise), summing to 1
    scale = np.clip(rate["slope"][None] / ints["slope"], 0, None)
    weight = 1 / (ints["var_poisson"] * scale + ints["var_rnoise"])
    weight /= weight.sum(axis=0)
    np.testing.assert_allclose(rate["slope"], (weight * ints["slope"]).sum(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rate["var_rnoise"], (weight ** 2 * ints["var_rnoise"]).sum(axis=0), rtol=1e-4)


def test_pulls_long_faint_ramps(capsys):
    """Many groups, read-noise dominated (MIRI-like): the errors stay right."""
    rates = np.random.default_rng(46).uniform(0.3, 5.0, (100, 100))
    r = rf.make_ramps(ny=100, nx=100, ngroups=60, nints=1, tframe=2.775, gain=4.0, readnoise=14.0, rates=rates,
                      seed=46)
    rate, _ = fit(r)
    pull = (rate["slope"] - r.rate) / rate["err"]
    assert_pull(pull, "60 groups, 0.3-5 DN/s")
    ols, _ = fit_ols(r)
    with capsys.disabled():
        print(f"\npull std, 60 groups, 0.3-5 DN/s: LIKELY {np.nanstd(pull):.3f}, "
              f"OLS {np.nanstd((ols['slope'] - r.rate) / ols['err']):.3f}")


def test_scatter_lower_than_ols_on_bright_pixels(capsys):
    """GLS is the minimum-variance linear estimator: never worse than OLS, better where OLS is not optimal."""
    rates = np.exp(np.random.default_rng(33).uniform(np.log(100.0), np.log(1000.0), (150, 150)))
    clean = rf.make_ramps(ny=150, nx=150, ngroups=10, nints=1, rates=rates, seed=33)
    scale = np.sqrt(rates)  # the Poisson-limited error grows as sqrt(rate)
    ratio_clean, se_clean = scatter_ratio(fit(clean)[0]["slope"] - rates, fit_ols(clean)[0]["slope"] - rates, scale)
    # one jump per ramp, flagged: OLS combines the two segments with read-noise weights (as officially),
    # LIKELY fits one slope to both pieces with their full covariance
    jumped = rf.make_ramps(ny=150, nx=150, ngroups=10, nints=1, rates=rates, seed=34, jump_fraction=1.0)
    jumped.groupdq[jumped.jumps] |= JUMP
    ratio_jump, se_jump = scatter_ratio(fit(jumped)[0]["slope"] - rates, fit_ols(jumped)[0]["slope"] - rates, scale)
    with capsys.disabled():
        print(f"\nLIKELY/OLS slope scatter, 100-1000 DN/s, 10 groups: clean {ratio_clean:.4f} +- {se_clean:.4f}, "
              f"one flagged jump per ramp {ratio_jump:.4f} +- {se_jump:.4f}")
    assert ratio_clean <= 1 + 3 * se_clean
    assert ratio_jump < 1 - 3 * se_jump


def test_finds_jumps_itself():
    r = rf.make_ramps(ny=150, nx=150, ngroups=10, nints=2, seed=35, jump_fraction=0.05)
    rate, ints = fit(r)  # no JUMP_DET flags given
    hit = r.jumps.any(axis=1)
    found = (ints["dq"] & JUMP) != 0
    # jumps are 10-50 sigma of a difference: at a 4.5-sigma threshold all are found
    assert found[hit].mean() >= 0.99
    expected = 6.8e-6 * 9 * (~hit).sum()
    assert found[~hit].sum() <= expected + 4 * np.sqrt(expected) + 1
    np.testing.assert_array_equal((rate["dq"] & JUMP) != 0, found.any(axis=0))
    assert_pull((rate["slope"] - r.rate) / rate["err"], "rate with 5 % jumps")
    pull = ((ints["slope"] - r.rate[None]) / ints["err"])[hit]
    assert abs(pull.mean()) <= 4 / np.sqrt(pull.size) + SYSTEMATIC  # the jumps are removed: no bias
    # the input flags are not modified
    assert not np.any(r.groupdq & JUMP)


def test_multi_read_groups_drop_two_differences():
    """A jump inside a group of several reads spoils the differences on both sides of it."""
    r = rf.make_ramps(ny=60, nx=60, ngroups=8, nframes=4, groupgap=1, nints=1, seed=36,
                      rates=np.full((60, 60), 20.0))
    sigma = r.diff_sigma()
    # a jump after the 2nd of the 4 reads of group 4: half of it in group 4, all of it from group 5 on
    amp = 40 * sigma
    r.data[0, 4] += (amp / 2).astype(np.float32)
    r.data[0, 5:] += amp.astype(np.float32)
    rate, _ = fit(r)
    assert np.all(rate["dq"] & JUMP)
    assert_pull((rate["slope"] - r.rate) / rate["err"], "jump inside a group")


def test_flagged_groups():
    rng = np.random.default_rng(37)
    rates = rng.uniform(100.0, 1500.0, size=(120, 120))
    r = rf.make_ramps(ny=120, nx=120, ngroups=10, nints=1, rates=rates, seed=37, sat_level=5000.0 + 40000.0)
    ngood = (r.groupdq[0] & SAT == 0).sum(axis=0)
    assert (ngood < 10).mean() > 0.5 and (ngood >= 3).mean() > 0.5
    # a DO_NOT_USE group with garbage in it, in the middle of unsaturated ramps
    r.groupdq[0, 2, :60] |= DNU
    r.data[0, 2, :60] += 1.0e4
    rate, ints = fit(r)
    usable = ngood >= 3
    assert_pull(((rate["slope"] - r.rate) / rate["err"])[usable], "saturated part-way / DO_NOT_USE group")
    np.testing.assert_array_equal((rate["dq"] & SAT) != 0, ngood < 10)
    # a JUMP_DET flag (from the jump step) removes only the difference that ends on the group
    j = rf.make_ramps(ny=50, nx=50, ngroups=10, nints=1, seed=38, rates=np.full((50, 50), 30.0))
    base, _ = fit(j, detect_jumps=False)
    j.groupdq[0, 5] |= JUMP
    j.data[0, 5:] += 1000.0
    stepped, _ = fit(j, detect_jumps=False)
    assert np.all(stepped["dq"] & JUMP)
    # the 8 remaining differences estimate the same rate; the error grows by about sqrt(9/8)
    assert_pull((stepped["slope"] - j.rate) / stepped["err"], "flagged jump")
    ratio = np.median(stepped["err"] / base["err"])
    assert 1.0 < ratio < 1.15


def test_unusable_pixels():
    r = rf.make_ramps(ny=20, nx=20, ngroups=6, nints=2, seed=39, rates=np.full((20, 20), 10.0))
    r.groupdq[:, :, 0, 0] = SAT  # saturated from the first group, both integrations
    r.groupdq[0, :, 0, 1] = DNU  # one integration unusable: the rate comes from the other
    r.groupdq[:, 1:, 0, 2] = SAT  # one good group: no difference
    r.gain[0, 3] = 0.0
    r.pixeldq[0, 4] = dqflags.PIXEL["HOT"]
    rate, ints = fit(r)
    assert np.isnan(rate["slope"][0, 0]) and rate["dq"][0, 0] & DNU and rate["dq"][0, 0] & SAT
    assert rate["err"][0, 0] == 0 and rate["var_poisson"][0, 0] == 0 and rate["var_rnoise"][0, 0] == 0
    assert ints["dq"][0, 0, 1] & DNU and not rate["dq"][0, 1] & DNU
    assert rate["slope"][0, 1] == ints["slope"][1, 0, 1]
    assert np.isnan(rate["slope"][0, 2]) and rate["dq"][0, 2] & DNU
    assert np.isnan(rate["slope"][0, 3]) and rate["dq"][0, 3] & (DNU | NO_GAIN) == DNU | NO_GAIN
    assert np.isfinite(rate["slope"][0, 4]) and rate["dq"][0, 4] & dqflags.PIXEL["HOT"]
    assert np.all(np.isfinite(rate["slope"][1:]))
    # firstgroup/lastgroup: groups outside are not used
    r2 = rf.make_ramps(ny=20, nx=20, ngroups=8, nints=1, seed=40)
    r2.data[0, 0] -= 500.0
    r2.data[0, 7] += 500.0
    full, _ = fit(r2, detect_jumps=False)
    cut, _ = fit(r2, firstgroup=1, lastgroup=6, detect_jumps=False)
    assert np.all(np.abs(full["slope"] - r2.rate) > 3 * full["err"])  # the end groups are off by 500 DN
    pull = (cut["slope"] - r2.rate) / cut["err"]
    assert abs(pull.mean()) < 4 / np.sqrt(pull.size) + SYSTEMATIC and np.abs(pull).max() < 5


def test_through_run_and_errors(tmp_path, caplog):
    r = rf.make_ramps(ny=40, nx=40, ngroups=6, nints=2, seed=41)
    refs, substrt = rf.reference_files(tmp_path, r)
    model = rf.ramp_model(r, substrt=substrt)
    rate, rateints = ramp_fit.run(model, refs, {"algorithm": "likely"})
    expected, expected_ints = fit(r)
    np.testing.assert_array_equal(rate.data, expected["slope"])
    np.testing.assert_array_equal(rateints.err, expected_ints["err"])
    assert rate.sci_meta["BUNIT"] == "DN/s"
    with pytest.raises(WebbflowError, match="GLS"):
        ramp_fit.run(model, refs, {"algorithm": "GLS"})
    # fewer than 4 groups: the official step falls back to OLS, and so do we
    short = rf.make_ramps(ny=10, nx=10, ngroups=3, nints=1, seed=42)
    (tmp_path / "three").mkdir()
    refs3, substrt3 = rf.reference_files(tmp_path / "three", short)
    with caplog.at_level(logging.WARNING):
        rate3, _ = ramp_fit.run(rf.ramp_model(short, substrt=substrt3), refs3, {"algorithm": "LIKELY"})
    assert "using OLS" in caplog.text
    np.testing.assert_array_equal(rate3.data, fit_ols(short)[0]["slope"])
    with pytest.raises(WebbflowError, match="at least 4 groups"):
        fit(short)


def test_pipeline_config_selects_likely(tmp_path):
    """``detector1: steps: ramp_fit: {algorithm: LIKELY}`` reaches the step through the pipeline."""
    from webbflow.pipelines import detector1

    r = rf.make_ramps(ny=30, nx=30, ngroups=5, nints=1, seed=43)
    refs, substrt = rf.reference_files(tmp_path, r)
    model = rf.ramp_model(r, substrt=substrt)
    steps = {name: {"skip": True} for name in detector1.step_names(model.meta) if name not in ("ramp_fit",)}
    steps["ramp_fit"] = {"algorithm": "LIKELY"}
    rate, _ = detector1.run(model, refs, config={"steps": steps})
    expected, _ = fit(r)
    np.testing.assert_array_equal(rate.data, expected["slope"])
    assert rate.meta["S_RAMP"] == "COMPLETE"
    with pytest.raises(WebbflowError):
        detector1.run(rf.ramp_model(r, substrt=substrt), refs, config={"steps": {**steps, "ramp_fit": {"algorithm": 3}}})


# ----------------------------------------------------------------------------- the official code

@pytest.mark.compare
def test_agrees_with_stcal_likely():
    """The same ramps through stcal's LIKELY: the same slopes, errors and jumps.

    Both codes compute the same estimator in float64 and write float32, so
    the expected differences are rounding: a relative 1e-7 of the slope,
    i.e. up to ~1e-4 ERR for the brightest pixels (slope/ERR ~ 1000). We
    require a median |difference| below 1e-4 ERR and a maximum below 1e-3
    ERR, relative variance differences below 1e-4, and the same JUMP_DET
    flags on 99.9 % of the integrations. Excluded, and checked separately:
    ramps with half or more of their groups unusable, where stcal starts the
    covariance from the median of all differences including the unusable
    ones (about zero after saturation) and we from the usable ones only.
    """
    stcal = pytest.importorskip("stcal")
    from stcal.ramp_fitting import ramp_fit as stcal_ramp_fit
    from stcal.ramp_fitting.ramp_fit_class import RampData

    assert stcal.__version__
    for nframes, groupgap, nints, seed in ((1, 0, 2, 44), (4, 1, 1, 45)):
        r = rf.make_ramps(ny=100, nx=100, ngroups=10, nframes=nframes, groupgap=groupgap, nints=nints, seed=seed,
                          jump_fraction=0.05, sat_level=5000.0 + 30000.0)
        rd = RampData()
        rd.set_arrays(r.data.copy(), r.groupdq.copy(), r.pixeldq.copy(), np.zeros(r.gain.shape, np.float32))
        rd.set_meta(name="NIRCAM", frame_time=r.meta["TFRAME"], group_time=r.tgroup, groupgap=groupgap,
                    nframes=nframes, drop_frames1=None)
        rd.set_dqflags(dqflags.PIXEL)
        rd.start_row, rd.num_rows = 0, r.data.shape[2]
        theirs, theirs_ints, _ = stcal_ramp_fit.ramp_fit_data(rd, False, r.readnoise.copy(), r.gain.copy(),
                                                              "LIKELY", "optimal", "none")
        ours, ours_ints = fit(r)
        half_bad = ((r.groupdq != 0).sum(axis=1) >= 5)
        same = ~half_bad.any(axis=0)
        assert same.mean() > 0.8
        delta = (np.abs(ours["slope"] - theirs["slope"]) / ours["err"])[same]
        assert np.median(delta) < 1e-4 and delta.max() < 1e-3, (np.median(delta), delta.max())
        for key in ("var_poisson", "var_rnoise"):
            rel = np.abs(ours[key] / theirs[key] - 1)[same]
            assert np.median(rel) < 1e-4, key
        ours_jump = (ours_ints["dq"] & JUMP) != 0
        theirs_jump = (theirs_ints["dq"] & JUMP) != 0
        assert (ours_jump == theirs_jump)[~half_bad].mean() >= 0.999
        # a jump is found where at least 3 usable differences remain to tell it from the rest
        visible = (r.jumps & (r.groupdq == 0)).any(axis=1) & ((r.groupdq == 0).sum(axis=1) >= 4)
        assert ours_jump[visible].mean() >= 0.99
        np.testing.assert_array_equal(ours["dq"][same], theirs["dq"][same])
