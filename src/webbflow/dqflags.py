"""JWST data-quality bit values, identical to the official definitions.

``PIXEL`` holds the 32-bit pixel flags used in DQ/PIXELDQ arrays and
``GROUP`` the 8-bit flags used in GROUPDQ.
"""

PIXEL = {
    "GOOD": 0,
    "DO_NOT_USE": 1 << 0,
    "SATURATED": 1 << 1,
    "JUMP_DET": 1 << 2,
    "DROPOUT": 1 << 3,
    "OUTLIER": 1 << 4,
    "PERSISTENCE": 1 << 5,
    "AD_FLOOR": 1 << 6,
    "CHARGELOSS": 1 << 7,
    "RESERVED": 1 << 8,
    "NON_SCIENCE": 1 << 9,
    "DEAD": 1 << 10,
    "HOT": 1 << 11,
    "WARM": 1 << 12,
    "LOW_QE": 1 << 13,
    "RC": 1 << 14,
    "TELEGRAPH": 1 << 15,
    "NONLINEAR": 1 << 16,
    "BAD_REF_PIXEL": 1 << 17,
    "NO_FLAT_FIELD": 1 << 18,
    "NO_GAIN_VALUE": 1 << 19,
    "NO_LIN_CORR": 1 << 20,
    "NO_SAT_CHECK": 1 << 21,
    "UNRELIABLE_BIAS": 1 << 22,
    "UNRELIABLE_DARK": 1 << 23,
    "UNRELIABLE_SLOPE": 1 << 24,
    "UNRELIABLE_FLAT": 1 << 25,
    "OPEN": 1 << 26,
    "ADJ_OPEN": 1 << 27,
    "FLUX_ESTIMATED": 1 << 28,
    "MSA_FAILED_OPEN": 1 << 29,
    "OTHER_BAD_PIXEL": 1 << 30,
    "REFERENCE_PIXEL": 1 << 31,
}

GROUP = {
    "GOOD": 0,
    "DO_NOT_USE": PIXEL["DO_NOT_USE"],
    "SATURATED": PIXEL["SATURATED"],
    "JUMP_DET": PIXEL["JUMP_DET"],
    "DROPOUT": PIXEL["DROPOUT"],
    "PERSISTENCE": PIXEL["PERSISTENCE"],
    "AD_FLOOR": PIXEL["AD_FLOOR"],
    "CHARGELOSS": PIXEL["CHARGELOSS"],
}

# Module-level names for the flags used in hot code.
DO_NOT_USE = PIXEL["DO_NOT_USE"]
SATURATED = PIXEL["SATURATED"]
JUMP_DET = PIXEL["JUMP_DET"]
AD_FLOOR = PIXEL["AD_FLOOR"]
CHARGELOSS = PIXEL["CHARGELOSS"]
NO_GAIN_VALUE = PIXEL["NO_GAIN_VALUE"]
NO_LIN_CORR = PIXEL["NO_LIN_CORR"]
NO_SAT_CHECK = PIXEL["NO_SAT_CHECK"]
UNRELIABLE_SLOPE = PIXEL["UNRELIABLE_SLOPE"]
REFERENCE_PIXEL = PIXEL["REFERENCE_PIXEL"]


def names(value, table=PIXEL):
    """Return the flag names set in an integer DQ value.

    Parameters
    ----------
    value : int
        A DQ value.
    table : dict, optional
        ``PIXEL`` (default) or ``GROUP``.

    Returns
    -------
    list of str
    """
    value = int(value)
    return [name for name, bit in table.items() if bit and value & bit]


def dq_def_rows(table=PIXEL):
    """Rows (BIT, VALUE, NAME, DESCRIPTION) for a DQ_DEF extension."""
    return [
        (bit.bit_length() - 1, bit, name, name.replace("_", " ").lower())
        for name, bit in table.items()
        if bit
    ]
