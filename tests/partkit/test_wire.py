"""coursekit.partkit.wire: what a worker sends reaches the grader as data, or not at all."""

import math
import socket

import pytest
import torch

from coursekit.partkit.wire import Channel, WireError, decode, encode


def test_tensors_and_plain_data_round_trip():
    message = {"a": [torch.arange(6, dtype=torch.float64).reshape(2, 3), torch.empty(0, 4), torch.tensor(True)],
               "n": 3, "x": math.inf, "s": "文字", "none": None}
    back = decode(encode(message)[8:])
    assert torch.equal(back["a"][0], message["a"][0]) and back["a"][0].dtype == torch.float64
    assert back["a"][1].shape == (0, 4) and back["a"][2].item() is True
    assert back["x"] == math.inf and back["s"] == "文字" and back["none"] is None


@pytest.mark.parametrize("body", [b"", b"\x00" * 8 + b"{}extra", b"\x00\x00\x00\x00\x00\x00\x00\x02[x"])
def test_what_is_not_a_message_is_refused(body):
    with pytest.raises(WireError):
        decode(body)


def test_a_tensor_header_without_its_bytes_is_refused():
    good = encode({"t": torch.ones(4)})
    with pytest.raises(WireError):
        decode(good[8:-4])


def test_objects_are_never_sent():
    with pytest.raises(WireError):
        encode({"f": print})


def test_a_channel_bounds_its_wait():
    a, b = socket.socketpair()
    channel = Channel(a)
    with pytest.raises(WireError, match="no answer"):
        channel.receive(timeout=0.05)
    Channel(b).send({"ok": 1})
    assert channel.receive(timeout=1) == {"ok": 1}
