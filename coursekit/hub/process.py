"""Starting and stopping the hub, and what must hold before it starts: the proxy is installed and the
four ports are free. A failed check changes nothing and says what to do.

``start`` runs ``jupyterhub`` as root in the background (its own session; output in
``private/hub.log``), records its pid in ``private/hub.pid`` and returns once its log says it runs
and ``/hub/health`` answers through the proxy (asked only then: before the hub has added its route,
the proxy would log each request as a red "404" error in the hub's log). ``stop`` sends it SIGTERM: JupyterHub then stops every user's server, the formgrader
service and the proxy it started (``cleanup_servers``), and exits.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from coursekit.config import CourseConfig
from coursekit.hub import HubError
from coursekit.hub.hubconfig import Layout, ports

PROXY = "configurable-http-proxy"
START_TIMEOUT = 240  # seconds until /hub/health must answer (the hub starts the formgrader service first)
STOP_TIMEOUT = 90    # seconds JupyterHub gets to stop the servers before it is killed
POLL = 0.5
RUNNING = b"JupyterHub is now running at"  # JupyterHub's log line once the proxy has its routes


def repository_proxy() -> Path:
    """Where `npm ci` in this repository puts the proxy (package.json pins its version)."""
    return Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / PROXY


def find_proxy(config: CourseConfig) -> Path:
    """configurable-http-proxy: [hub] proxy, else on PATH, else this repository's node_modules; and node."""
    configured = config.hub.proxy
    candidates = [configured] if configured else [shutil.which(PROXY), str(repository_proxy())]
    found = next((Path(c) for c in candidates if c and shutil.which(c)), None)
    if found is None:
        where = f"[hub] proxy = {configured!r} is not an executable" if configured else \
            f"{PROXY} is neither on PATH nor in {repository_proxy().parent}"
        raise HubError(f"{where}. JupyterHub needs it: install it with `npm ci` in the course repository "
                       f"(package.json pins it) or `npm install -g {PROXY}`; it needs Node.js 20 or later. "
                       f"Nothing was changed.")
    if shutil.which("node") is None:
        raise HubError(f"{found} needs Node.js (`node` is not on PATH): apt-get install nodejs. Nothing was changed.")
    return found.resolve()


def port_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def check_ports(config: CourseConfig) -> None:
    """HubError naming every port of the four that something else listens on."""
    p = ports(config)
    wanted = [(config.hub.ip, p.public, "the hub's page ([hub] port)"), ("127.0.0.1", p.hub_api, "the hub's API"),
              ("127.0.0.1", p.proxy_api, "the proxy's API"), ("127.0.0.1", p.formgrader, "the formgrader service")]
    busy = [f"{ip}:{port} ({what})" for ip, port, what in wanted if not port_free(ip, port)]
    if busy:
        raise HubError(f"port(s) in use: {', '.join(busy)}. Stop what listens there or set [hub] port to a "
                       f"port whose next three are free too. Nothing was changed.")


def hub_command(config: CourseConfig, action: str) -> str:
    """The command line of a hub action for this course, as root types it (the same Python, the same --config)."""
    return shlex.join([sys.executable, "-m", "coursekit", "--config", str(config.path), "hub", action])


def hub_url(config: CourseConfig) -> str:
    host = "127.0.0.1" if config.hub.ip in ("0.0.0.0", "") else config.hub.ip
    return f"http://{host}:{config.hub.port}"


@dataclass(frozen=True)
class HubProcess:
    pid: int
    url: str
    log: Path


def running_pid(lay: Layout) -> int | None:
    """The pid of this course's running hub, from private/hub.pid, if that process is still the hub."""
    try:
        pid = int(lay.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if str(lay.config_file).encode() in cmdline else None


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/hub/health", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(config: CourseConfig, lay: Layout, timeout: float = START_TIMEOUT) -> HubProcess:
    """Start JupyterHub with the written configuration and wait until it answers."""
    if running_pid(lay) is not None:
        raise HubError(f"the hub of {config.course_id} is already running (pid {running_pid(lay)}); "
                       f"`{hub_command(config, 'stop')}` first.")
    url = hub_url(config)
    command = [sys.executable, "-m", "jupyterhub", "-f", str(lay.config_file)]
    log_start = lay.log_file.stat().st_size if lay.log_file.exists() else 0  # the log is appended to
    with open(lay.log_file, "ab") as log:
        process = subprocess.Popen(command, cwd=lay.private, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    lay.pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            lay.pid_file.unlink(missing_ok=True)
            raise HubError(f"JupyterHub exited with {process.returncode} while starting; its log "
                           f"({lay.log_file}) ends with:\n{log_tail(lay)}")
        if _says_running(lay, log_start) and _healthy(url):
            return HubProcess(pid=process.pid, url=url, log=lay.log_file)
        time.sleep(POLL)
    stop(lay)
    raise HubError(f"JupyterHub did not answer at {url} within {timeout:.0f} s; it was stopped. Its log ends with:\n"
                   f"{log_tail(lay)}")


def _says_running(lay: Layout, start: int) -> bool:
    with open(lay.log_file, "rb") as log:
        log.seek(start)
        return RUNNING in log.read()


def log_tail(lay: Layout, chars: int = 3000) -> str:
    try:
        return lay.log_file.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def stop(lay: Layout, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the hub (and so every server it started); False when it was not running."""
    pid = running_pid(lay)
    if pid is None:
        lay.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(POLL)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)  # its own session: the hub and the proxy it started
    try:
        os.waitpid(pid, 0)  # reap it when this process started it
    except ChildProcessError:
        pass
    lay.pid_file.unlink(missing_ok=True)
    return True
