"""``supportctl serve`` as a whole process on a loopback port, with the
fake Twilio and Telegram APIs beside it (the same servers ``sync`` tests
use), so a message can arrive both by webhook and by ``sync``."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.email.servers import free_port
from tests.social.graph_server import TOKEN as GRAPH_TOKEN
from tests.social.telegram_server import TOKEN as TG_TOKEN
from tests.social.telegram_server import TelegramServer
from tests.social.twilio_server import SHOP, SHOP_WA, SID, TwilioServer
from tests.social.twilio_server import TOKEN as TW_TOKEN

FORM_SECRET = "form-secret-for-tests-0123456789"
TG_SECRET = "tg-webhook-secret-42"
META_SECRET = "meta-app-secret-77"
META_VERIFY = "meta-verify-token-5"
PUBLIC = "https://help.shop.example"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Served:
    port: int
    env: dict[str, str]
    cfg: Path
    twilio: TwilioServer
    telegram: TelegramServer
    proc: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()


def write_config(path: Path, tw: TwilioServer, tg: TelegramServer, channels: str = "",
                 **serve: Any) -> None:
    """``channels``: more entries (YAML lines) after the Twilio and Telegram ones."""
    extra = "".join(f"  {k}: {v}\n" for k, v in serve.items())
    path.write_text(
        "channels:\n"
        "  - name: shop-sms\n"
        "    type: twilio\n"
        f"    account_sid: {SID}\n"
        "    auth_token_env: SHOP_TWILIO_TOKEN\n"
        f"    numbers: ['{SHOP}', '{SHOP_WA}']\n"
        f"    api_base_url: {tw.url}\n"
        "  - name: shop-telegram\n"
        "    type: telegram\n"
        "    token_env: SHOP_TELEGRAM_TOKEN\n"
        f"    api_base_url: {tg.url}\n"
        + channels
        + "serve:\n"
        f"  public_url: {PUBLIC}\n"
        "  secret_env: FORM_SECRET\n"
        "  telegram_secret_token_env: TG_SECRET\n"
        "  meta_app_secret_cmd: echo $META_SECRET\n"
        "  meta_verify_token_env: META_VERIFY\n"
        + extra,
        encoding="utf-8",
    )
    path.chmod(0o600)


@pytest.fixture
def serve(cli: Any, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve(**serve_keys)`` starts ``supportctl serve`` on a free port."""
    started: list[Served] = []
    stack: list[Any] = []

    def start(channels: str = "", **keys: Any) -> Served:
        tw, tg = TwilioServer(), TelegramServer()
        stack.extend([tw, tg])
        tw.__enter__()
        tg.__enter__()
        cfg = tmp_path / f"config{len(started)}.yaml"
        write_config(cfg, tw, tg, channels, **keys)
        env = {"SUPPORTCTL_CONFIG": str(cfg), "SHOP_TWILIO_TOKEN": TW_TOKEN,
               "SHOP_TELEGRAM_TOKEN": TG_TOKEN, "FORM_SECRET": FORM_SECRET,
               "TG_SECRET": TG_SECRET, "META_SECRET": META_SECRET, "META_VERIFY": META_VERIFY,
               "META_TOKEN": GRAPH_TOKEN}
        port = free_port()
        log = tmp_path / f"serve{len(started)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "supportctl", "--db", str(cli.db), "serve", "--port", str(port)],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
            stderr=log.open("wb"))
        served = Served(port, env, cfg, tw, tg, proc, log)
        started.append(served)
        deadline = time.monotonic() + 60
        while True:
            try:
                if served.request("GET", "/healthz").status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {log.read_text()}")
            time.sleep(0.1)
        return served

    yield start
    for s in started:
        s.proc.terminate()
        try:
            s.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            s.proc.kill()
    for srv in stack:
        srv.__exit__(None, None, None)
