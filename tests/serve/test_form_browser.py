"""The contact form in a real headless browser (Debian's ``chromium``),
driven over the DevTools protocol on a pipe (no driver, no library): load
``/form``, check that every field has an accessible name, type into the
fields as a person would, press Enter on Send, land on the thank-you page, and find
the ticket in ``supportctl list``. The page has no script at all; the
browser runs none of its own in it either.

Skipped when chromium is not installed, except under CI (``CI=true``),
where its absence is a failure."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.cli.test_report_browser import browser  # noqa: F401  (fixture)


def _as_fds_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: the pipes become fds 3 and 4, inheritable. Copied above
    10 first: a pipe already at 3 or 4 would be overwritten by the other, or
    stay close-on-exec (dup2 onto itself changes nothing)."""
    import fcntl

    r = fcntl.fcntl(read_end, fcntl.F_DUPFD, 10)
    w = fcntl.fcntl(write_end, fcntl.F_DUPFD, 10)
    os.dup2(r, 3)
    os.dup2(w, 4)


class DevTools:
    """Chrome DevTools protocol over ``--remote-debugging-pipe``: JSON
    messages ending in NUL, commands on fd 3, answers and events on fd 4."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=390,844",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=lambda: _as_fds_3_and_4(to_r, from_w))
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_r, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\0")
        return dict(json.loads(raw))

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            got = self._read(deadline)
            if got.get("id") == self.next_id:
                assert "error" not in got, got
                return dict(got.get("result") or {})
            self.events.append(got)

    def wait_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Accessibility.enable")
        self.navigate(url)

    def navigate(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def node(self, selector: str) -> int:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        found = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        assert found, selector
        return int(found)

    def type_into(self, selector: str, text: str) -> None:
        self.call("DOM.focus", nodeId=self.node(selector))
        self.call("Input.insertText", text=text)

    def press_enter_on(self, selector: str) -> None:
        """Focus ``selector`` and press Enter, as a keyboard user sends a form."""
        node = self.node(selector)
        self.call("DOM.scrollIntoViewIfNeeded", nodeId=node)
        self.call("DOM.focus", nodeId=node)
        self.events.clear()
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                      windowsVirtualKeyCode=13, nativeVirtualKeyCode=13,
                      **({"text": "\r"} if kind == "keyDown" else {}))

    def html(self) -> str:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        return str(self.call("DOM.getOuterHTML", nodeId=root)["outerHTML"])

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_w)
        os.close(self._from_r)


def test_fill_and_send_the_form_in_chromium(browser: str, cli: Any, serve: Any,  # noqa: F811
                                             tmp_path: Path) -> None:
    s = serve(language="fr", title="Boutique Martin")
    dt = DevTools(browser, tmp_path / "profile")
    try:
        dt.open(f"http://127.0.0.1:{s.port}/form")
        page = dt.html()
        assert '<html lang="fr">' in page and "Contactez-nous" in page

        # Every field a person fills has an accessible name from its label;
        # the honeypot is hidden from assistive technology.
        tree = dt.call("Accessibility.getFullAXTree")["nodes"]
        names = {str(n.get("name", {}).get("value", "")) for n in tree
                 if n.get("role", {}).get("value") == "textbox" and not n.get("ignored")}
        assert {"Votre nom (obligatoire)", "E-mail (obligatoire)", "Téléphone (facultatif)",
                "Objet (facultatif)", "Message (obligatoire)"} <= names, names
        assert not any("vide" in n for n in names)

        dt.type_into("#f-name", "Chloé Martin")
        dt.type_into("#f-email", "chloe@example.fr")
        dt.type_into("#f-phone", "+33 6 12 34 56 78")
        dt.type_into("#f-subject", "Colis abîmé")
        dt.type_into("#f-message", "Bonjour,\nle colis 2077 est arrivé abîmé.")
        dt.press_enter_on("button[type=submit]")
        dt.wait_event("Page.loadEventFired")
        thanks = dt.html()
        assert 'id="thanks"' in thanks and "Merci" in thanks, thanks
    finally:
        dt.close()

    res = cli("list", "--format", "json")
    assert res.code == 0, res
    (t,) = res.json()
    assert (t["channel"], t["subject"], t["contact"]["name"]) == \
        ("web", "Colis abîmé", "Chloé Martin")
    msg = cli("show", str(t["id"]), "--format", "json").json()["messages"][0]
    assert msg["text"] == "Bonjour,\nle colis 2077 est arrivé abîmé."
    assert "POST /form 303" in s.log.read_text()
