"""Device benchmarks: the prepared GPU check and the denoiser's kernel profile."""
