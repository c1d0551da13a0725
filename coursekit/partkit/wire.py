"""The wire between the grader and a grading worker: plain data and tensors, nothing else.

A message is a JSON document plus the raw bytes of the tensors it names. Decoding never unpickles
and never runs code: a tensor is rebuilt from its dtype (one of :data:`DTYPES`), its shape and
exactly that many bytes. Anything else (a wrong length, an unknown dtype, a frame larger than
:data:`MAX_FRAME`) is a :class:`WireError`. So whatever a worker sends, the grader gets data.

Frame: 8-byte length (big-endian) of the whole rest, 8-byte length of the JSON header, the header,
then the tensors' bytes one after the other.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from typing import Any

import torch

#: The largest frame either side reads (a network's parameters and a batch are a few MB).
MAX_FRAME = 256 * 2**20
DTYPES = {name: getattr(torch, name) for name in
          ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_LENGTH = struct.Struct(">Q")


class WireError(ValueError):
    """A message that is not one (or a connection that ended or broke)."""


class WireTimeout(WireError):
    """No message within the time allowed."""


def encode(message: Any) -> bytes:
    buffers: list[bytes] = []

    def plain(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().to("cpu").contiguous()
            if tensor.dtype not in _NAMES:
                raise WireError(f"a tensor of dtype {tensor.dtype} cannot be sent")
            buffers.append(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
            return {"__tensor__": len(buffers) - 1, "dtype": _NAMES[tensor.dtype], "shape": list(tensor.shape)}
        if isinstance(value, float) and not math.isfinite(value):
            return {"__float__": repr(value)}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise WireError("only str keys can be sent")
            return {k: plain(v) for k, v in value.items()}
        raise WireError(f"a {type(value).__name__} cannot be sent")

    header = json.dumps(plain(message), ensure_ascii=False, allow_nan=False).encode("utf-8")
    body = _LENGTH.pack(len(header)) + header + b"".join(buffers)
    return _LENGTH.pack(len(body)) + body


def decode(body: bytes) -> Any:
    if len(body) < _LENGTH.size:
        raise WireError("message cut short")
    (size,) = _LENGTH.unpack_from(body)
    if size > len(body) - _LENGTH.size:
        raise WireError("message cut short")
    try:
        header = json.loads(body[_LENGTH.size:_LENGTH.size + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise WireError(f"message header is not JSON ({err})") from None
    data = memoryview(body)[_LENGTH.size + size:]
    offsets: list[int] = [0]

    def tensor(spec: dict[str, Any]) -> torch.Tensor:
        dtype, shape = DTYPES.get(spec.get("dtype")), spec.get("shape")
        if dtype is None or not isinstance(shape, list) or not all(isinstance(n, int) and 0 <= n for n in shape):
            raise WireError("a tensor with an unknown dtype or shape")
        count = math.prod(shape)
        nbytes = count * torch.empty((), dtype=dtype).element_size()
        start = offsets[0]
        if spec.get("__tensor__") != len(offsets) - 1 or start + nbytes > len(data):
            raise WireError("a tensor's bytes are missing")
        offsets[0] = start + nbytes
        offsets.append(0)
        if count == 0:
            return torch.empty(shape, dtype=dtype)
        raw = bytearray(data[start:start + nbytes])
        return torch.frombuffer(raw, dtype=torch.uint8).view(dtype).reshape(shape).clone()

    def rebuild(value: Any) -> Any:
        if isinstance(value, list):
            return [rebuild(v) for v in value]
        if isinstance(value, dict):
            if "__tensor__" in value:
                return tensor(value)
            if set(value) == {"__float__"} and value["__float__"] in ("nan", "inf", "-inf"):
                return float(value["__float__"])
            return {k: rebuild(v) for k, v in value.items()}
        return value

    message = rebuild(header)
    if offsets[0] != len(data):
        raise WireError("bytes left over after the tensors")
    return message


class Channel:
    """Frames over a connected stream socket; ``timeout`` (seconds) bounds every receive."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, message: Any) -> None:
        try:
            self.sock.sendall(encode(message))
        except OSError as err:
            raise WireError(f"the connection broke ({err})") from None

    def receive(self, timeout: float | None = None) -> Any:
        self.sock.settimeout(timeout)
        try:
            (size,) = _LENGTH.unpack(self._exactly(_LENGTH.size))
            if size > MAX_FRAME:
                raise WireError(f"a message of {size} bytes is larger than {MAX_FRAME}")
            return decode(self._exactly(size))
        except TimeoutError:
            raise WireTimeout(f"no answer within {timeout:g} s") from None
        except OSError as err:
            raise WireError(f"the connection broke ({err})") from None

    def _exactly(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise WireError("the other side ended")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()
