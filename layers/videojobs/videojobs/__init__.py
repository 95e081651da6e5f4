"""videojobs: the Seedance video-job domain shared by every function of the pipeline."""
