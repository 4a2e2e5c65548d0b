"""Load a page in headless Chromium and report what a person would see go wrong.

The browser is driven through the DevTools protocol over ``--remote-debugging-pipe`` (JSON
messages ending in a NUL byte on file descriptors 3 and 4 of the browser), so no Python package
is needed. `load_page` returns the page's images (loaded, decoded width), its tables, and every
console error, uncaught exception and error log entry, after the load event.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


def chromium() -> str | None:
    """The Chromium executable, or None (Debian's ``chromium`` package provides it)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    def __init__(self, exe: str, user_dir: str):
        to_browser, self._w = os.pipe()  # the browser reads commands on its fd 3
        self._r, from_browser = os.pipe()  # and writes replies on its fd 4
        argv = " ".join(
            [exe, *FLAGS, f"--user-data-dir={user_dir}", "--remote-debugging-pipe", "about:blank"]
        )
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {argv} 3<&{to_browser} 4>&{from_browser}"],
            pass_fds=(to_browser, from_browser),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60.0) -> dict:  # fmt: skip
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.time() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            e = self._read(deadline)
            if e.get("method") == method:
                return e
            self.events.append(e)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


# ``opaque``: the share of an image's pixels that were drawn (alpha > 0): a PNG cut short
# decodes partially, leaving the rest transparent, while its width still reads as whole.
_INSPECT = """(() => {
function opaque(img) {
  if (!img.naturalWidth) { return 0; }
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext("2d"); g.drawImage(img, 0, 0);
  const a = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let k = 3; k < a.length; k += 4) { if (a[k] > 0) { n += 1; } }
  return n / (c.width * c.height);
}
return JSON.stringify({
  images: Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,
                                                  width: i.naturalWidth, opaque: opaque(i)})),
  tables: document.querySelectorAll("table").length,
  rows: document.querySelectorAll("tr").length,
  title: document.title,
});
})()"""


def load_page(path: str, script: str | None = None, timeout: float = 90.0) -> dict:
    """Opens ``path`` (a file) and returns ``{"images", "tables", "rows", "title", "errors",
    "result"}``; ``result`` is ``script``'s value (a JS expression run after the load event).

    ``errors`` lists uncaught exceptions, ``console.error`` calls and error log entries.
    """
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("no chromium executable")
    with tempfile.TemporaryDirectory() as user_dir:
        b = _Pipe(exe, user_dir)
        try:
            target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Runtime", "Log", "Page"):
                b.call(f"{domain}.enable", session=session)
            b.call("Page.navigate", {"url": "file://" + os.path.abspath(path)}, session=session)
            b.wait_for("Page.loadEventFired", timeout)
            evaluate = lambda expr: b.call(
                "Runtime.evaluate",
                {"expression": expr, "returnByValue": True, "awaitPromise": True},
                session=session,
            )["result"].get("value")
            out = json.loads(evaluate(_INSPECT))
            out["result"] = evaluate(script) if script else None
            evaluate("0")  # a last round trip: events raised by the script arrive before it
            errors = []
            for e in b.events:
                p = e.get("params", {})
                if e.get("method") == "Runtime.exceptionThrown":
                    d = p["exceptionDetails"]
                    errors.append(d.get("exception", {}).get("description") or d.get("text"))
                elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in (
                    "error",
                    "assert",
                ):
                    errors.append(" ".join(str(a.get("value")) for a in p.get("args", [])))
                elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                    errors.append(p["entry"].get("text"))
            out["errors"] = errors
            return out
        finally:
            b.close()
