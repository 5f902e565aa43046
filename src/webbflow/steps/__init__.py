"""Calibration steps: one module per step, each a plain function on models.

Every step module defines

``NAME``
    the step name used in the config and on the command line;
``STATUS_KEYWORD``
    the official S_* header keyword recording COMPLETE/SKIPPED;
``REFTYPES``
    the CRDS reference types it reads (a tuple, possibly empty);
``DEFAULTS``
    its parameters and their defaults;
``run(model, refs, params)``
    the algorithm: ``refs`` maps each reftype to a file path, ``params`` is
    ``DEFAULTS`` updated by the user's config; it returns the model.
"""
