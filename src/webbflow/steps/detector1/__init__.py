"""Stage 1 (detector-level) steps: ramps to count rates."""
