"""The long run of bad input (bench/bench_bad_input.py) against a real ``tact serve``
process: 30,000 seeded malformed and extreme requests after a 2,000-request warm-up."""

from __future__ import annotations

import pytest

from bench.bench_bad_input import soak


@pytest.mark.slow
def test_thirty_thousand_bad_requests_to_a_real_server() -> None:
    result = soak(requests=30_000, warmup=2_000, seed=14)
    assert sum(result.codes.values()) == 30_000
    assert not {"INTERNAL", "UNKNOWN"} & set(result.codes), result.codes
    assert result.codes.get("INVALID_ARGUMENT", 0) > 15_000, result.codes
    # Every answer as it should be (RESOURCE_EXHAUSTED only from gRPC's own 4 MB limit on
    # a message, never from tact's trailers: problems_with checks).
    assert not result.problems, result.examples
    assert result.tracebacks_logged == 0
    assert result.internal_lines_logged == 0
    assert result.rows_written_by_rejected == 0
    # Without tact's own parsing, gRPC leaked ≈ 10–19 MB per 1,000 undecodable requests.
    assert result.rss_growth_mb < 10, result.rss_mb_series
