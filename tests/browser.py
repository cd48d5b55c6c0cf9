"""A real headless Chromium driven over the DevTools protocol, for the report's tests.

Only what the tests need: install Debian's `chromium` when it is missing (as root), start
it on a free port with a throwaway profile, open one page over a websocket, send commands,
keep every event, stop it by its pid, and read a PNG screenshot without an image library.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from websockets.sync.client import ClientConnection, connect

from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
DEBIAN_PACKAGE = "chromium"
# Everything that would make Chromium reach the network on its own is off, so a request
# seen by the page can only come from the page.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)


class ChromiumUnavailable(RuntimeError):
    pass


def ensure_chromium() -> Path:
    """Chromium's path, installing the distribution's package first when it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ChromiumUnavailable(
            f"{CHROMIUM} is missing: install the Debian package `{DEBIAN_PACKAGE}` "
            f"(apt-get install -y --no-install-recommends {DEBIAN_PACKAGE}) or run as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", DEBIAN_PACKAGE],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ChromiumUnavailable(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return CHROMIUM


@dataclass
class Page:
    """One page's DevTools session: commands answered in order, events kept in arrival."""

    ws: ClientConnection
    events: list[dict] = field(default_factory=list)
    next_id: int = 0

    def send(self, method: str, params: dict | None = None, timeout: float = 15) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline, f"an answer to {method}")
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def wait_for(self, event: str, timeout: float = 15) -> dict:
        """The first `event` received, reading until it arrives."""
        deadline = time.monotonic() + timeout
        while not (found := self.events_named(event)):
            self._receive(deadline, event)
        return found[0]

    def events_named(self, *methods: str) -> list[dict]:
        return [e for e in self.events if e["method"] in methods]

    def evaluate(self, expression: str) -> object:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _receive(self, deadline: float, waiting_for: str) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"Chromium sent no {waiting_for} in time")
        try:
            message = json.loads(self.ws.recv(timeout=remaining))
        except TimeoutError:
            raise TimeoutError(f"Chromium sent no {waiting_for} in time") from None
        if "method" in message:
            self.events.append(message)
        return message


class Chromium:
    """A headless Chromium process with its DevTools endpoint on 127.0.0.1."""

    def __init__(self, executable: Path, profile_dir: Path):
        self.port = free_port()
        args = [str(executable), *FLAGS, f"--user-data-dir={profile_dir}"]
        args += [f"--remote-debugging-port={self.port}", "about:blank"]
        # Its own process group, so its renderer and helper processes go with it.
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_for_endpoint(timeout=30)

    def _wait_for_endpoint(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ChromiumUnavailable(f"Chromium exited with {self.process.returncode}")
            with contextlib.suppress(OSError):
                self._get("/json/version")
                return
            time.sleep(0.1)
        raise ChromiumUnavailable(f"Chromium's DevTools port {self.port} did not open")

    def _get(self, path: str) -> object:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)

    def open_page(self) -> Page:
        """The blank page Chromium started with, as a DevTools session."""
        pages = [t for t in self._get("/json/list") if t["type"] == "page"]
        ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        return Page(ws)

    def stop(self) -> None:
        """Ends Chromium by its pid, then its helpers (its own process group) with it."""
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _group_alive(group) and time.monotonic() < deadline:
            self.process.poll()  # reaps the main process once it has exited
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=10)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, at = {}, 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        chunks[kind] = chunks.get(kind, b"") + png[at + 8 : at + 8 + length]
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG layout"
    return width, height, _unfilter(zlib.decompress(chunks[b"IDAT"]), width, height, colour)


def _unfilter(data: bytes, width: int, height: int, colour: int) -> list[bytes]:
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, row = data[start], bytearray(data[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + _predict(kind, left, up, up_left)) & 0xFF
        rows.append(bytes(row))
        previous = row
    return rows


def _predict(kind: int, left: int, up: int, up_left: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    # Paeth: whichever neighbour is closest to left + up - up_left.
    p = left + up - up_left
    pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
    return left if pa <= pb and pa <= pc else up if pb <= pc else up_left


def screenshot(page: Page, width: int = 1000, height: int = 1800) -> bytes:
    """The top of the page, `width` x `height` CSS pixels (past the first screen)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    page.send("Emulation.setDeviceMetricsOverride", metrics)
    shot = page.send("Page.captureScreenshot", {"format": "png"})
    return base64.b64decode(shot["data"])
