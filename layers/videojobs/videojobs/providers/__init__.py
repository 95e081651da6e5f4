"""One module per provider dialect, each implementing the VideoProvider port."""
