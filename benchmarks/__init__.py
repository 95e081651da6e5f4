"""`make bench`: speed and memory figures for the pipeline, printed as a table. Nothing is asserted."""
