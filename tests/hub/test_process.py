"""coursekit.hub.process without a hub: finding the proxy, the four ports, which process is the course's hub,
and stopping it (a stand-in process plays the hub; starting the real one is browser_tests/test_hub.py's)."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.hub import HubError, process
from coursekit.hub.hubconfig import Layout, ports

ROOT = Path(__file__).resolve().parents[2]


def course(tmp_path: Path, **hub):
    config = load_config(ROOT / "course.toml")
    return dataclasses.replace(config, hub=dataclasses.replace(config.hub, state_dir=tmp_path / "state", **hub))


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def layout(tmp_path) -> Layout:
    lay = Layout(tmp_path / "state")
    lay.private.mkdir(parents=True)
    lay.config_file.write_text("# jupyterhub_config.py\n")
    return lay


def stand_in_hub(lay: Layout, handles_sigterm: bool = True) -> subprocess.Popen:
    """A process with the hub's configuration file on its command line (as `jupyterhub -f FILE`), in a session
    of its own, its pid where `start` writes it; returns once it is ready for SIGTERM."""
    code = ("import signal, sys, threading\n"
            + ("" if handles_sigterm else "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n")
            + "print('ready', flush=True)\nthreading.Event().wait()\n")
    hub = subprocess.Popen([sys.executable, "-c", code, "-f", str(lay.config_file)], stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    assert hub.stdout.readline() == "ready\n"
    lay.pid_file.write_text(f"{hub.pid}\n")
    return hub


# --- the proxy ---------------------------------------------------------------------------------

def test_the_configured_proxy_is_used_when_node_is_there(tmp_path, monkeypatch):
    proxy = executable(tmp_path / "bin" / "my-proxy")
    executable(tmp_path / "bin" / "node")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert process.find_proxy(course(tmp_path, proxy=str(proxy))) == proxy.resolve()


def test_a_proxy_without_node_or_no_proxy_at_all_is_refused_with_what_to_install(tmp_path, monkeypatch):
    proxy = executable(tmp_path / "bin" / "configurable-http-proxy")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(HubError, match="needs Node.js"):
        process.find_proxy(course(tmp_path))  # found on PATH, but no node
    with pytest.raises(HubError, match=r"'/nonexistent/chp' is not an executable.*npm ci"):
        process.find_proxy(course(tmp_path, proxy="/nonexistent/chp"))
    proxy.unlink()
    monkeypatch.setattr(process, "repository_proxy", lambda: tmp_path / "node_modules" / ".bin" / process.PROXY)
    with pytest.raises(HubError, match="neither on PATH nor in .*node_modules/.bin"):
        process.find_proxy(course(tmp_path))


# --- the ports and the address -------------------------------------------------------------------

def four_free_ports() -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + 3 < 65536 and all(process.port_free("127.0.0.1", base + i) for i in range(4)):
            return base
    raise AssertionError("no four free ports in a row")


def test_every_busy_port_of_the_four_is_named(tmp_path):
    base = four_free_ports()
    config = course(tmp_path, port=base)
    process.check_ports(config)  # all free: nothing to say
    assert ports(config).hub_api == base + 1
    with socket.socket() as hub_api, socket.socket() as formgrader:
        hub_api.bind(("127.0.0.1", base + 1))
        formgrader.bind(("127.0.0.1", base + 3))
        assert not process.port_free("127.0.0.1", base + 1)
        with pytest.raises(HubError) as refused:
            process.check_ports(config)
    message = str(refused.value)
    assert f"127.0.0.1:{base + 1} (the hub's API)" in message and f"127.0.0.1:{base + 3} (the formgrader service)" \
        in message
    assert f":{base} " not in message and f":{base + 2} " not in message, "only the busy ones"


@pytest.mark.parametrize("ip, url", [("127.0.0.1", "http://127.0.0.1:8123"), ("0.0.0.0", "http://127.0.0.1:8123"),
                                     ("", "http://127.0.0.1:8123"), ("10.1.2.3", "http://10.1.2.3:8123")])
def test_the_hub_url_is_one_a_browser_on_this_machine_can_open(tmp_path, ip, url):
    assert process.hub_url(course(tmp_path, ip=ip, port=8123)) == url


# --- which process is the hub, and stopping it ----------------------------------------------------

def test_only_a_live_process_started_with_this_hubs_configuration_is_the_hub(layout):
    assert process.running_pid(layout) is None, "no pid file"
    layout.pid_file.write_text("not a pid\n")
    assert process.running_pid(layout) is None
    layout.pid_file.write_text(f"{os.getpid()}\n")
    assert process.running_pid(layout) is None, "a process, but not this hub (a pid used again)"
    hub = stand_in_hub(layout)
    try:
        assert process.running_pid(layout) == hub.pid
    finally:
        hub.kill()
        hub.wait()
    assert process.running_pid(layout) is None, "it is gone"


def test_starting_a_hub_that_runs_already_is_refused(tmp_path, layout):
    hub = stand_in_hub(layout)
    try:
        with pytest.raises(HubError, match=rf"already running \(pid {hub.pid}\).*hub stop"):
            process.start(course(tmp_path), layout)
    finally:
        hub.kill()
        hub.wait()


def test_stop_ends_the_hub_with_sigterm_and_forgets_its_pid(layout):
    hub = stand_in_hub(layout)
    assert process.stop(layout) is True
    assert not process._alive(hub.pid) and not layout.pid_file.exists()
    assert process.stop(layout) is False, "then it is not running"


def test_stop_kills_a_hub_that_outlives_its_time(layout):
    hub = stand_in_hub(layout, handles_sigterm=False)
    assert process.stop(layout, timeout=0.5) is True
    assert not process._alive(hub.pid) and not layout.pid_file.exists()


def test_an_exited_hub_not_yet_reaped_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, left a zombie
    try:
        assert not process._alive(child.pid)
    finally:
        child.wait()
    assert not process._alive(child.pid), "no such process at all"


def test_the_hub_counts_as_started_once_its_log_says_so_after_this_start(layout):
    layout.private.mkdir(parents=True, exist_ok=True)
    layout.log_file.write_bytes(b"old run\n" + process.RUNNING + b" http://127.0.0.1:8000\nstopped\n")
    start = layout.log_file.stat().st_size
    assert not process._says_running(layout, start)  # an earlier run's line does not count
    with open(layout.log_file, "ab") as log:
        log.write(b"[I] Starting proxy\n")
    assert not process._says_running(layout, start)
    with open(layout.log_file, "ab") as log:
        log.write(process.RUNNING + b" http://127.0.0.1:8000\n")
    assert process._says_running(layout, start)
