"""Studies: the Dask sweep runner (spec, store, report), the suites, and the studies built on them
(validation, calibration, sensitivity, replication, the claims and their explanations)."""
