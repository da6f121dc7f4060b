"""gRPC interop between grpcio (Python) and Courier's nghttp2 transport (Swift), both directions.

Runs the interop cases of grpc doc/interop-test-descriptions.md:
  * grpcio client  -> our `interop-server`  (TestGrpcioClientAgainstSwiftServer)
  * our `interop-client` -> grpcio server   (TestSwiftClientAgainstGrpcioServer)
  * grpcio client  -> our server over TLS with ALPN h2, with a throwaway CA made by `openssl`
    (TestGrpcioClientAgainstSwiftTLSServer)
  * gzip message compression both ways (TestGzip)

Self-contained: Python stubs are generated from proto/grpc/testing into a temporary folder; the
Swift executables come from INTEROP_BIN_DIR, or from `swift build --show-bin-path` of the package.
Everything listens on 127.0.0.1 with ports chosen by the OS. Readiness is probed with an RPC.
"""

import importlib
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from concurrent import futures

import grpc
import pytest

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[3]
PROTO_ROOT = PACKAGE_ROOT / "proto"

CASES = [
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "status_code_and_message",
    "special_status_message",
    "custom_metadata",
    "unimplemented_method",
    "unimplemented_service",
]


# --------------------------------------------------------------------------- stubs and binaries


@pytest.fixture(scope="module")
def pb():
    """Generated grpc.testing modules: (empty_pb2, messages_pb2, test_pb2, test_pb2_grpc)."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="interop-stubs-")
    protos = [str(PROTO_ROOT / "grpc/testing" / name) for name in ("empty.proto", "messages.proto", "test.proto")]
    protos.append(str(PROTO_ROOT / "grpc/health/v1/health.proto"))
    include = str(pathlib.Path(importlib.import_module("grpc_tools").__file__).parent / "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *protos])
    assert rc == 0, "grpc_tools.protoc failed on proto/grpc/testing"
    return _import_generated(out)


def _import_generated(out):
    # The generated package is "grpc.testing", which clashes with grpcio's "grpc" package: load the
    # files by path under their expected module names instead.
    import importlib.util
    import types

    testing = types.ModuleType("grpc.testing")
    testing.__path__ = [os.path.join(out, "grpc", "testing")]
    sys.modules["grpc.testing"] = testing
    for package in ("grpc.health", "grpc.health.v1"):
        module = types.ModuleType(package)
        module.__path__ = [os.path.join(out, *package.split("."))]
        sys.modules[package] = module
    loaded = []
    for name in ("empty_pb2", "messages_pb2", "test_pb2", "test_pb2_grpc"):
        full = f"grpc.testing.{name}"
        spec = importlib.util.spec_from_file_location(full, os.path.join(out, "grpc", "testing", f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        setattr(testing, name, module)
        loaded.append(module)
    for name in ("health_pb2", "health_pb2_grpc"):
        full = f"grpc.health.v1.{name}"
        spec = importlib.util.spec_from_file_location(full, os.path.join(out, "grpc", "health", "v1", f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
    return tuple(loaded)


@pytest.fixture(scope="module")
def bin_dir():
    env = os.environ.get("INTEROP_BIN_DIR")
    if env:
        path = pathlib.Path(env)
    else:
        out = subprocess.run(
            ["swift", "build", "--show-bin-path"], cwd=PACKAGE_ROOT, capture_output=True, text=True, check=True
        )
        path = pathlib.Path(out.stdout.strip())
    for name in ("interop-server", "interop-client"):
        assert (path / name).exists(), f"{path / name} is missing: run `swift build` first"
    return path


# --------------------------------------------------------------------------- grpcio client -> Swift server


def _wait_ready(channel, pb, what):
    _, messages_pb2, _, test_pb2_grpc = pb
    empty_pb2 = pb[0]
    stub = test_pb2_grpc.TestServiceStub(channel)
    try:
        stub.EmptyCall(empty_pb2.Empty(), wait_for_ready=True, timeout=30)
    except grpc.RpcError as error:  # pragma: no cover - startup failure
        pytest.fail(f"{what} did not answer EmptyCall: {error}")


def _start_swift_server(bin_dir, *extra):
    """Starts interop-server with `extra` arguments; returns (process, port)."""
    process = subprocess.Popen(
        [str(bin_dir / "interop-server"), "--port", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        process.kill()
        pytest.fail(f"interop-server {' '.join(extra)} did not start: {line!r}")
    return process, int(line.split()[-1])


def _stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def swift_server(bin_dir, pb):
    process, port = _start_swift_server(bin_dir)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    _wait_ready(channel, pb, "interop-server")
    yield channel, process
    channel.close()
    _stop(process)


def _params(pb, size):
    return pb[1].ResponseParameters(size=size)


def run_python_case(case, channel, pb):
    empty_pb2, m, _, test_pb2_grpc = pb
    stub = test_pb2_grpc.TestServiceStub(channel)

    if case == "empty_unary":
        assert stub.EmptyCall(empty_pb2.Empty()) == empty_pb2.Empty()
    elif case == "large_unary":
        response = stub.UnaryCall(m.SimpleRequest(response_size=314159, payload=m.Payload(body=b"\0" * 271828)))
        assert len(response.payload.body) == 314159
    elif case == "client_streaming":
        sizes = [27182, 8, 1828, 45904]
        response = stub.StreamingInputCall(iter(m.StreamingInputCallRequest(payload=m.Payload(body=b"\0" * s)) for s in sizes))
        assert response.aggregated_payload_size == 74922
    elif case == "server_streaming":
        sizes = [31415, 9, 2653, 58979]
        request = m.StreamingOutputCallRequest(response_parameters=[_params(pb, s) for s in sizes])
        assert [len(r.payload.body) for r in stub.StreamingOutputCall(request)] == sizes
    elif case == "ping_pong":
        request_sizes = [27182, 8, 1828, 45904]
        response_sizes = [31415, 9, 2653, 58979]
        requests = _Pipe()
        call = stub.FullDuplexCall(iter(requests))
        for request_size, response_size in zip(request_sizes, response_sizes):
            requests.put(m.StreamingOutputCallRequest(response_parameters=[_params(pb, response_size)], payload=m.Payload(body=b"\0" * request_size)))
            assert len(next(call).payload.body) == response_size
        requests.close()
        assert list(call) == []
    elif case == "empty_stream":
        assert list(stub.FullDuplexCall(iter([]))) == []
    elif case == "cancel_after_begin":
        requests = _Pipe()
        future = stub.StreamingInputCall.future(iter(requests))
        future.cancel()
        with pytest.raises(grpc.FutureCancelledError):
            future.result()
        assert future.cancelled()
        requests.close()
    elif case == "cancel_after_first_response":
        requests = _Pipe()
        call = stub.FullDuplexCall(iter(requests))
        requests.put(m.StreamingOutputCallRequest(response_parameters=[_params(pb, 31415)], payload=m.Payload(body=b"\0" * 27182)))
        assert len(next(call).payload.body) == 31415
        call.cancel()
        with pytest.raises(grpc.RpcError) as error:
            next(call)
        assert error.value.code() == grpc.StatusCode.CANCELLED
        requests.close()
    elif case == "timeout_on_sleeping_server":
        requests = _Pipe()
        call = stub.FullDuplexCall(iter(requests), timeout=0.001)
        requests.put(m.StreamingOutputCallRequest(payload=m.Payload(body=b"\0" * 27182)))
        with pytest.raises(grpc.RpcError) as error:
            next(call)
        assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        requests.close()
    elif case in ("status_code_and_message", "special_status_message"):
        message = "test status message" if case == "status_code_and_message" else "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
        status = m.EchoStatus(code=2, message=message)
        with pytest.raises(grpc.RpcError) as error:
            stub.UnaryCall(m.SimpleRequest(response_status=status))
        assert error.value.code() == grpc.StatusCode.UNKNOWN
        assert error.value.details() == message
        if case == "status_code_and_message":
            with pytest.raises(grpc.RpcError) as error:
                list(stub.FullDuplexCall(iter([m.StreamingOutputCallRequest(response_status=status)])))
            assert error.value.code() == grpc.StatusCode.UNKNOWN
            assert error.value.details() == message
    elif case == "custom_metadata":
        metadata = (("x-grpc-test-echo-initial", "test_initial_metadata_value"), ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab"))
        response, call = stub.UnaryCall.with_call(m.SimpleRequest(response_size=314159, payload=m.Payload(body=b"\0" * 271828)), metadata=metadata)
        assert len(response.payload.body) == 314159
        assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in call.initial_metadata()
        assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in call.trailing_metadata()
        call = stub.FullDuplexCall(iter([m.StreamingOutputCallRequest(response_parameters=[_params(pb, 314159)], payload=m.Payload(body=b"\0" * 271828))]), metadata=metadata)
        assert [len(r.payload.body) for r in call] == [314159]
        assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in call.initial_metadata()
        assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in call.trailing_metadata()
    elif case == "unimplemented_method":
        with pytest.raises(grpc.RpcError) as error:
            stub.UnimplementedCall(empty_pb2.Empty())
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    elif case == "unimplemented_service":
        with pytest.raises(grpc.RpcError) as error:
            test_pb2_grpc.UnimplementedServiceStub(channel).UnimplementedCall(empty_pb2.Empty())
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    else:  # pragma: no cover
        raise AssertionError(case)


class _Pipe:
    """A request iterator fed from the test thread."""

    _END = object()

    def __init__(self):
        import queue

        self._queue = queue.Queue()

    def put(self, item):
        self._queue.put(item)

    def close(self):
        self._queue.put(self._END)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            yield item


class TestGrpcioClientAgainstSwiftServer:
    @pytest.mark.parametrize("case", CASES)
    def test_case(self, case, swift_server, pb):
        channel, process = swift_server
        run_python_case(case, channel, pb)
        assert process.poll() is None, "interop-server exited"

    def test_health(self, swift_server, pb):
        """grpc.health.v1.Health: Check for the server and the service, NOT_FOUND otherwise, Watch."""
        health_pb2 = sys.modules["grpc.health.v1.health_pb2"]
        health_pb2_grpc = sys.modules["grpc.health.v1.health_pb2_grpc"]
        channel, _ = swift_server
        stub = health_pb2_grpc.HealthStub(channel)
        serving = health_pb2.HealthCheckResponse.SERVING
        assert stub.Check(health_pb2.HealthCheckRequest(service="")).status == serving
        assert stub.Check(health_pb2.HealthCheckRequest(service="grpc.testing.TestService")).status == serving
        with pytest.raises(grpc.RpcError) as error:
            stub.Check(health_pb2.HealthCheckRequest(service="nope.Nope"))
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        assert next(watch).status == serving
        watch.cancel()


# --------------------------------------------------------------------------- Swift client -> grpcio server


def _make_servicer(pb):
    empty_pb2, m, _, test_pb2_grpc = pb

    def echo(context):
        metadata = dict(context.invocation_metadata())
        if "x-grpc-test-echo-initial" in metadata:
            context.send_initial_metadata((("x-grpc-test-echo-initial", metadata["x-grpc-test-echo-initial"]),))
        if "x-grpc-test-echo-trailing-bin" in metadata:
            context.set_trailing_metadata((("x-grpc-test-echo-trailing-bin", metadata["x-grpc-test-echo-trailing-bin"]),))

    def maybe_abort(status, context):
        if status.code != 0:
            context.abort(grpc.StatusCode(_code(status.code)), status.message)

    def _code(number):
        return next(code for code in grpc.StatusCode if code.value[0] == number).value

    class Servicer(test_pb2_grpc.TestServiceServicer):
        def EmptyCall(self, request, context):
            echo(context)
            return empty_pb2.Empty()

        def UnaryCall(self, request, context):
            echo(context)
            if request.HasField("response_status"):
                maybe_abort(request.response_status, context)
            return m.SimpleResponse(payload=m.Payload(body=b"\0" * request.response_size))

        def StreamingOutputCall(self, request, context):
            echo(context)
            for parameters in request.response_parameters:
                if parameters.interval_us:
                    time.sleep(parameters.interval_us / 1e6)
                yield m.StreamingOutputCallResponse(payload=m.Payload(body=b"\0" * parameters.size))
            if request.HasField("response_status"):
                maybe_abort(request.response_status, context)

        def StreamingInputCall(self, request_iterator, context):
            echo(context)
            return m.StreamingInputCallResponse(aggregated_payload_size=sum(len(r.payload.body) for r in request_iterator))

        def FullDuplexCall(self, request_iterator, context):
            echo(context)
            for request in request_iterator:
                if request.HasField("response_status"):
                    maybe_abort(request.response_status, context)
                for parameters in request.response_parameters:
                    yield m.StreamingOutputCallResponse(payload=m.Payload(body=b"\0" * parameters.size))

        def HalfDuplexCall(self, request_iterator, context):
            requests = list(request_iterator)
            for request in requests:
                for parameters in request.response_parameters:
                    yield m.StreamingOutputCallResponse(payload=m.Payload(body=b"\0" * parameters.size))

    return Servicer()


@pytest.fixture(scope="module")
def grpcio_server(pb):
    test_pb2_grpc = pb[3]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    test_pb2_grpc.add_TestServiceServicer_to_server(_make_servicer(pb), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    _wait_ready(channel, pb, "grpcio server")
    channel.close()
    yield port
    server.stop(grace=None)


class TestSwiftClientAgainstGrpcioServer:
    @pytest.mark.parametrize("case", CASES)
    def test_case(self, case, grpcio_server, bin_dir):
        result = subprocess.run(
            [str(bin_dir / "interop-client"), "--server_port", str(grpcio_server), "--test_case", case],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"interop-client {case}: {result.stdout}{result.stderr}"
        assert f"PASS {case}" in result.stdout


# --------------------------------------------------------------------------- TLS


def _openssl(directory, *arguments):
    result = subprocess.run(["openssl", *arguments], cwd=directory, capture_output=True, text=True)
    assert result.returncode == 0, f"openssl {' '.join(arguments)} failed: {result.stderr}"


@pytest.fixture(scope="module")
def certificates():
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost: (ca, cert, key) paths."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="interop-tls-"))
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(directory, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=Courier Interop Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl(directory, "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    _openssl(directory, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


@pytest.fixture(scope="module")
def swift_tls_server(bin_dir, pb, certificates):
    ca, cert, key = certificates
    process, port = _start_swift_server(bin_dir, "--use_tls", "--tls_cert_file", str(cert), "--tls_key_file", str(key))
    credentials = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    channel = grpc.secure_channel(f"127.0.0.1:{port}", credentials)
    _wait_ready(channel, pb, "interop-server --use_tls")
    yield channel, process, port
    channel.close()
    _stop(process)


TLS_CASES = ["empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "custom_metadata",
             "status_code_and_message"]


class TestGrpcioClientAgainstSwiftTLSServer:
    @pytest.mark.parametrize("case", TLS_CASES)
    def test_case(self, case, swift_tls_server, pb):
        channel, process, _ = swift_tls_server
        run_python_case(case, channel, pb)
        assert process.poll() is None, "interop-server exited"

    def test_untrusted_certificate_is_unavailable(self, swift_tls_server, pb):
        """A client without the test CA among its roots refuses the server's certificate."""
        _, process, port = swift_tls_server
        empty_pb2, _, _, test_pb2_grpc = pb
        channel = grpc.secure_channel(f"127.0.0.1:{port}", grpc.ssl_channel_credentials())
        try:
            with pytest.raises(grpc.RpcError) as error:
                test_pb2_grpc.TestServiceStub(channel).EmptyCall(empty_pb2.Empty(), timeout=10)
        finally:
            channel.close()
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "CERTIFICATE_VERIFY_FAILED" in error.value.details() or "handshake" in error.value.details().lower()
        assert process.poll() is None, "interop-server exited"

    def test_plaintext_client_is_refused(self, swift_tls_server, pb):
        """An h2c client gets no gRPC answer from the TLS server, and the server keeps serving."""
        channel, process, port = swift_tls_server
        empty_pb2, _, _, test_pb2_grpc = pb
        plain = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            with pytest.raises(grpc.RpcError) as error:
                test_pb2_grpc.TestServiceStub(plain).EmptyCall(empty_pb2.Empty(), timeout=10)
        finally:
            plain.close()
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        run_python_case("empty_unary", channel, pb)


# --------------------------------------------------------------------------- gzip


@pytest.fixture(scope="module")
def swift_gzip_request_server(bin_dir, pb):
    """Our server with default settings, called by a grpcio channel that compresses with gzip."""
    process, port = _start_swift_server(bin_dir)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", compression=grpc.Compression.Gzip)
    _wait_ready(channel, pb, "interop-server")
    yield channel, process
    channel.close()
    _stop(process)


@pytest.fixture(scope="module")
def swift_gzip_server(bin_dir, pb):
    """Our server compressing responses with gzip for clients that accept it."""
    process, port = _start_swift_server(bin_dir, "--response_compression", "gzip")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", compression=grpc.Compression.Gzip)
    _wait_ready(channel, pb, "interop-server --response_compression gzip")
    yield channel, process
    channel.close()
    _stop(process)


@pytest.fixture(scope="module")
def grpcio_gzip_server(pb):
    """A grpcio server that compresses its responses with gzip."""
    test_pb2_grpc = pb[3]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), compression=grpc.Compression.Gzip)
    test_pb2_grpc.add_TestServiceServicer_to_server(_make_servicer(pb), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


GZIP_CASES = ["large_unary", "client_streaming", "server_streaming", "ping_pong", "custom_metadata"]


class TestGzip:
    @pytest.mark.parametrize("case", GZIP_CASES)
    def test_grpcio_sends_gzip_to_swift_server(self, case, swift_gzip_request_server, pb):
        """grpcio compresses every request; our server used to answer UNIMPLEMENTED to that."""
        channel, process = swift_gzip_request_server
        run_python_case(case, channel, pb)
        assert process.poll() is None, "interop-server exited"

    @pytest.mark.parametrize("case", GZIP_CASES)
    def test_gzip_both_ways_with_swift_server(self, case, swift_gzip_server, pb):
        channel, process = swift_gzip_server
        run_python_case(case, channel, pb)
        assert process.poll() is None, "interop-server exited"

    @pytest.mark.parametrize("case", GZIP_CASES)
    def test_swift_client_sends_gzip_to_grpcio(self, case, grpcio_gzip_server, bin_dir):
        result = subprocess.run(
            [str(bin_dir / "interop-client"), "--server_port", str(grpcio_gzip_server), "--test_case", case,
             "--request_compression", "gzip"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"interop-client {case} with gzip: {result.stdout}{result.stderr}"
        assert f"PASS {case}" in result.stdout
