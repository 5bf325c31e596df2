"""Regenerate the Python gRPC code in ``tact/v1`` from ``proto/tact/v1`` (``make proto``).

Deterministic for a given grpcio-tools version (pinned in pyproject.toml), so a test can
regenerate into a temporary directory and fail when the committed code is stale.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROTO_ROOT = REPO / "proto"


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / "tact" / "v1").glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Compile every proto into ``out_dir`` (``out_dir/tact/v1/*_pb2*.py[i]``)."""
    import google.rpc.status_pb2  # googleapis-common-protos ships status.proto
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(google.rpc.status_pb2.__file__).parents[2]
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    package = out_dir / "tact" / "v1"
    (package / "__init__.py").write_text('"""Generated from proto/tact/v1 by `make proto`."""\n')
    return sorted(package.iterdir())


def main() -> None:
    written = generate(REPO)
    for path in written:
        print(path.relative_to(REPO))


if __name__ == "__main__":
    main()
