"""The committed gRPC code in tact/v1 must be exactly what `make proto` generates."""

from __future__ import annotations

from pathlib import Path

from tact.protogen import REPO, generate


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    fresh = {p.name: p.read_bytes() for p in generate(tmp_path)}
    committed = {p.name: p.read_bytes() for p in (REPO / "tact" / "v1").iterdir() if p.is_file()}
    assert sorted(fresh) == sorted(committed), "run `make proto` and commit tact/v1"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"tact/v1 is stale ({', '.join(stale)}): run `make proto` and commit"
