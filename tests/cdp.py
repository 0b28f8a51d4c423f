"""A headless Chromium driven over the DevTools protocol (on 127.0.0.1), for tests that click in a page: load a
URL, evaluate JavaScript (awaiting promises), take a screenshot. Built on aiohttp's websocket client, which the
test environment has; no browser is downloaded (Debian's chromium, which `make test` installs)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """`with Browser(profile) as b: b.open(url); b.eval("...")`: one page, synchronous calls."""

    def __init__(self, profile: Path, extra: tuple[str, ...] = ()) -> None:
        assert CHROMIUM is not None
        self.profile = profile
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--remote-debugging-address=127.0.0.1",
                 "--remote-debugging-port=0", "--window-size=1300,1000", f"--user-data-dir={profile}",
                 *extra]  # fmt: skip
        self.process = subprocess.Popen([CHROMIUM, *flags, "about:blank"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        self.loop = asyncio.new_event_loop()
        self.ids = itertools.count(1)

    def __enter__(self) -> Browser:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        self.loop.run_until_complete(self._connect(port))
        return self

    async def _connect(self, port: int) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as response:
            pages = [p for p in await response.json(content_type=None) if p["type"] == "page"]
        self.socket = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)

    async def _call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads((await self.socket.receive()).data)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.loop.run_until_complete(self._call(method, **params))

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited); a thrown error is raised here."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text", "") + json.dumps(result["exceptionDetails"]))
        return result["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 30) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            try:
                value = self.eval(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.05)

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            await self.socket.close()
            await self.session.close()

        self.loop.run_until_complete(close())
        self.loop.close()
        self.process.kill()
        self.process.wait(10)
