"""Sweep runner: scheduling overhead and the 2-worker speed-up (ratios measured in the same run).

Run with ``make bench``. A 200-cell sweep of small audits (DPS on bimodal_1d, n = 500, 200 steps,
spread, mode weights and distribution; 50 ζ values × 4 seeds, about a fifth of a second each)
runs three ways: in this process (``workers=1``'s path, writing the same store), on a started
local Dask cluster with 1 worker process and on one with 2 (workers warmed up by a few cells;
cluster start-up, a few seconds, is not scheduling). The three are interleaved in blocks of 20
cells, so that a machine whose speed drifts during the two minutes slows all three alike.
Overhead: the 1-worker cluster's total time over the in-process one's, minus 1. Targets:
overhead ≤ 5 %, speed-up of 2 workers over 1 ≥ 1.7× on a 2-core machine.
"""

from __future__ import annotations

import time

from samplerlab.studies import sweep as sw
from samplerlab.studies.cluster import dask_client
from samplerlab.studies.sweep_store import Store

CELLS_ZETA = [round(0.1 + 0.02 * i, 2) for i in range(50)]


def _spec():
    return sw.parse_spec({"sweep": {"samplers": ["dps"], "scenarios": ["bimodal_1d"], "seeds": [0, 1, 2, 3],
                                    "n": 500, "steps": 200,
                                    "checks": ["spread", "mode_weights", "distribution"]},
                          "params": {"dps": {"zeta": CELLS_ZETA}}}, "bench.toml")


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def test_sweep_overhead_and_speedup(benchmark, tmp_path):
    all_cells = sw.cells(_spec())
    assert len(all_cells) == 200
    blocks = [{sw.cell_key(c): c for c in all_cells[i:i + 20]} for i in range(0, 200, 20)]
    warm = {sw.cell_key(c): c for c in all_cells[:4]}
    totals = {"local": 0.0, 1: 0.0, 2: 0.0}
    stores = {key: Store(tmp_path / str(key)) for key in ("local", 1, 2, "warm")}

    def local(block):
        sw.run_local(block, stores["local"], 1, sw._Progress(len(block), 0))
        stores["local"].flush()

    def on_dask(block, workers, client):
        sw._run_on_dask(block, stores[workers], workers, None, None, 1, sw._Progress(len(block), 0), client=client)
        stores[workers].flush()

    with dask_client(1) as one, dask_client(2) as two:
        clients = {1: one, 2: two}
        for workers, client in clients.items():
            # A started cluster whose workers have imported samplerlab and built the scenario (one
            # warm-up cell each): what is left is scheduling, transfer and the store's writes.
            sw._run_on_dask(warm, stores["warm"], workers, None, None, 1, sw._Progress(4, 0), client=client)
        sw.run_local(warm, stores["warm"], 1, sw._Progress(4, 0))
        for block in blocks:
            totals["local"] += _timed(lambda: local(block))[1]
            for workers, client in clients.items():
                totals[workers] += _timed(lambda: on_dask(block, workers, client))[1]
    cell_s, one_s, two_s = totals["local"], totals[1], totals[2]
    overhead, speedup = one_s / cell_s - 1, one_s / two_s
    benchmark.extra_info.update(cells_s=cell_s, one_worker_s=one_s, two_workers_s=two_s, overhead=overhead,
                                speedup=speedup)
    benchmark.pedantic(lambda: None, rounds=1)
    print(f"\n200 cells: in-process sweep {cell_s:.1f} s; Dask 1 worker {one_s:.1f} s (overhead {overhead:.1%}), "
          f"2 workers {two_s:.1f} s (speed-up {speedup:.2f}×)")
    assert overhead <= 0.05
    assert speedup >= 1.7
