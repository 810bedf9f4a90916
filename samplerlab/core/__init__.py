"""The exact mathematics: Gaussian mixtures and their Tweedie kernels, schedules, the inverse
problem and the task a sampler sees, and the small services every layer above uses (sizes and
memory checks, content hashes, threads, interrupts)."""
