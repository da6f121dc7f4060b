"""Python classes and grpcio stubs generated from proto/ (all of Courier's contracts) into a
temporary folder, with stock grpc_tools.protoc: exactly what a client in another language does.

    pb = courier_protos.load()
    pb.iris.SendMailRequest(...); pb.iris_grpc.NotificationServiceStub(channel)
"""

import importlib
import pathlib
import sys
import tempfile
import types

ROOT = pathlib.Path(__file__).resolve().parents[3]
PROTO = ROOT / "proto"
_loaded = None


def load():
    global _loaded
    if _loaded is not None:
        return _loaded
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="courier-stubs-")
    files = [str(p.relative_to(PROTO)) for p in sorted((PROTO / "courier").rglob("*.proto"))]
    include = str(pathlib.Path(importlib.import_module("grpc_tools").__file__).parent / "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if rc != 0:
        raise RuntimeError("grpc_tools.protoc failed on proto/courier")
    sys.path.insert(0, out)
    names = types.SimpleNamespace()
    for area in ("common", "events", "asgardian", "iris", "hermes"):
        for module in sorted((pathlib.Path(out) / "courier" / area / "v1").glob("*_pb2*.py")):
            imported = importlib.import_module(f"courier.{area}.v1.{module.stem}")
            attribute = area + ("_grpc" if module.stem.endswith("_grpc") else "")
            if module.stem.endswith("_grpc") or not hasattr(names, attribute):
                setattr(names, attribute, imported)
    _loaded = names
    return names
