"""webbflow: the JWST science calibration pipeline as a Snakemake workflow."""

__version__ = "0.1.0"
