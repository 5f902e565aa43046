"""Stage 3 imaging steps (calwebb_image3)."""
