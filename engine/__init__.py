"""tact's decision engine: the service and the contracts shared with simulator and policies."""

import os

# tact multiplies small matrices (masks, policy layers) on small shared machines: an
# OpenBLAS thread pool costs far more than it saves there (bench: the compliance batch
# mask of 60 cases took 35 ms with the default pool, 2.8 ms with one thread, load ~6 on
# 2 cores). Must run before numpy loads; an explicit setting is respected.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
