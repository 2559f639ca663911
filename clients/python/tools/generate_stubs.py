"""Generates the gRPC stubs of `proto/valv/v1` into `src/valv/v1` (committed), or with
`--check` fails when the committed stubs differ from what the protos give now.

Run from anywhere: python clients/python/tools/generate_stubs.py [--check]
Needs grpcio-tools (pip install "./clients/python[dev]").
"""

from __future__ import annotations

import argparse
import filecmp
import pathlib
import shutil
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = HERE.parent
PROTO_ROOT = PACKAGE.parent.parent / "proto"
TARGET = PACKAGE / "src" / "valv" / "v1"
HEADER = '"""Generated from proto/valv/v1 by clients/python/tools/generate_stubs.py; do not edit."""\n'


def generate(out: pathlib.Path) -> None:
    from grpc_tools import protoc  # imported here: only this tool needs grpcio-tools

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "valv" / "v1").glob("*.proto"))
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    (out / "valv" / "v1" / "__init__.py").write_text(HEADER)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        generate(out)
        fresh = out / "valv" / "v1"
        if args.check:
            names = sorted(p.name for p in fresh.iterdir())
            committed = sorted(p.name for p in TARGET.iterdir() if p.is_file()) if TARGET.exists() else []
            _, mismatch, errors = filecmp.cmpfiles(fresh, TARGET, names, shallow=False)
            if names != committed or mismatch or errors:
                print(
                    "the committed Python stubs are out of date with proto/: "
                    f"differ {mismatch + errors}, files {set(names) ^ set(committed)}; "
                    "run python clients/python/tools/generate_stubs.py",
                    file=sys.stderr,
                )
                return 1
            print(f"Python stubs match proto/ ({len(names)} files)")
            return 0
        if TARGET.exists():
            shutil.rmtree(TARGET)
        shutil.copytree(fresh, TARGET)
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
