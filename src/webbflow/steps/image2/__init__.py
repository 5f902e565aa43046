"""Stage 2 imaging steps (calwebb_image2): count rates to calibrated images."""
