"""Soak run of bad input against a real ``tact serve`` process: status codes, tracebacks
logged, rows written for rejected requests, and the server's memory (RSS).

Seeded malformed and extreme requests (bench/bad_requests.py: extreme field values, bad
UTF-8, corrupt bytes, over every method) go to a server started as operators start it
(its own process, SQLite ledger in a temporary directory, ``ladder`` policy). The server's
RSS is read from /proc after a warm-up (its lazy imports and caches filled) and then every
1,000 requests. After every rejected request the ledger's rows are counted: a rejected
request must write nothing.

    .venv/bin/python bench/bench_bad_input.py [--requests 30000] [--warmup 2000]
        [--seed 14] [--repo PATH] [--json FILE]

``--repo`` serves another checkout's code (e.g. an export of ``main``) with this
client, to compare. The figures go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import grpc  # noqa: E402
from bad_requests import call, ledger_rows, problems_with, random_bad_requests  # noqa: E402
from google.rpc import code_pb2  # noqa: E402
from served import tact_serve  # noqa: E402


@dataclass
class SoakResult:
    requests: int
    codes: dict[str, int]
    problems: dict[str, int]
    """Answers that broke a rule (problems_with), by the rule's first words."""
    examples: list[str]
    tracebacks_logged: int
    internal_lines_logged: int
    rows_written_by_rejected: int
    rss_mb_after_warmup: float
    rss_mb_end: float
    rss_mb_series: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_mb_end - self.rss_mb_after_warmup


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def soak(
    requests: int = 30_000, warmup: int = 2_000, seed: int = 14, repo: Path = REPO
) -> SoakResult:
    """Send ``warmup`` then ``requests`` bad requests to a fresh server; see the module doc."""
    with tempfile.TemporaryDirectory(prefix="tact-soak-") as tmp:
        db_path = Path(tmp) / "tact.db"
        log_path = Path(tmp) / "server.log"
        env = {"TACT_DATABASE_URL": f"sqlite:///{db_path}", "TACT_POLICY": "ladder"}
        with tact_serve(env, log_path, repo) as served:
            result = _drive(served.address, served.pid, db_path, requests, warmup, seed)
        text = log_path.read_text(errors="replace")
        result.tracebacks_logged = text.count("Traceback (most recent call last)")
        result.internal_lines_logged = sum(
            "internal error" in line or "Exception deserializing" in line
            for line in text.splitlines()
        )
        return result


def _drive(
    address: str, pid: int, db_path: Path, requests: int, warmup: int, seed: int
) -> SoakResult:
    codes: collections.Counter[str] = collections.Counter()
    problems: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    written = 0
    series: list[float] = []
    bad_requests = random_bad_requests(seed)
    db = sqlite3.connect(db_path)
    started = time.perf_counter()
    try:
        with grpc.insecure_channel(address) as channel:
            for bad in itertools.islice(bad_requests, warmup):
                call(channel, bad)
            rss_start = _rss_mb(pid)
            series.append(rss_start)
            rows = ledger_rows(db)
            for n, bad in enumerate(itertools.islice(bad_requests, requests), start=1):
                reply = call(channel, bad)
                codes[code_pb2.Code.Name(reply.code)] += 1
                for problem in problems_with(bad, reply):
                    key = " ".join(problem.split()[:4])
                    problems[key] += 1
                    if len(examples) < 10:
                        examples.append(f"{bad.method.path} {bad.mutated} {problem}")
                now_rows = ledger_rows(db)
                if reply.code != code_pb2.OK:
                    written += now_rows - rows
                rows = now_rows
                if n % 1000 == 0:
                    series.append(_rss_mb(pid))
            rss_end = _rss_mb(pid)
    finally:
        db.close()
    return SoakResult(
        requests=requests,
        codes=dict(codes),
        problems=dict(problems),
        examples=examples,
        tracebacks_logged=0,
        internal_lines_logged=0,
        rows_written_by_rejected=written,
        rss_mb_after_warmup=rss_start,
        rss_mb_end=rss_end,
        rss_mb_series=series,
        seconds=time.perf_counter() - started,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose code serves")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = soak(args.requests, args.warmup, args.seed, args.repo.resolve())
    print(f"server code: {args.repo.resolve()}")
    print(f"{result.requests} bad requests in {result.seconds:.0f} s (after {args.warmup} warm-up)")
    print(f"status codes: {dict(sorted(result.codes.items()))}")
    print(f"answers breaking a rule: {result.problems or 'none'}")
    for example in result.examples:
        print(f"  e.g. {example}")
    print(f"tracebacks logged: {result.tracebacks_logged}")
    print(f"INTERNAL / deserialization errors logged: {result.internal_lines_logged}")
    print(f"ledger rows written by rejected requests: {result.rows_written_by_rejected}")
    print(
        f"server RSS: {result.rss_mb_after_warmup:.1f} MB after warm-up → "
        f"{result.rss_mb_end:.1f} MB (growth {result.rss_growth_mb:+.1f} MB)"
    )
    print("RSS every 1,000 requests (MB): " + " ".join(f"{m:.0f}" for m in result.rss_mb_series))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
