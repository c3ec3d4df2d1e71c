"""WeChat fixtures: an app with secrets, a fake WeChat server that signs and encrypts
like the real one, and a local fake of WeChat's API (tests never reach the internet)."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.config import load_config
from bot.runtime import Runtime
from handlers.wechat_wire import sign
from web.app import create_app
from tests.conftest import ROOT

TOKEN = "jiuzhu-test-token"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "test-app-secret-0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
ACCOUNT = "gh_0123456789ab"                               # the Official Account's own id
OPENID = "oJZ_test_resident_0001"


def wechat_environ(sqlite_url: str, safe: bool = False) -> dict[str, str]:
    """The environment a deployment sets (contract §4)."""
    env = {"JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_WECHAT_TOKEN": TOKEN,
           "JIUZHU_WECHAT_APP_ID": APP_ID, "JIUZHU_WECHAT_APP_SECRET": APP_SECRET}
    if safe:
        env["JIUZHU_WECHAT_AES_KEY"] = AES_KEY
    return env


def make_runtime(environ: dict[str, str], shared_runtime) -> Runtime:
    """A runtime with these secrets that reuses the session's knowledge base and matcher."""
    return Runtime(load_config(ROOT / "config.toml", environ=environ),
                   kb=shared_runtime.kb, matcher=shared_runtime.matcher)


class FakeWeChat:
    """Posts messages as WeChat's servers do (signed, encrypted in safe mode) and reads replies."""

    def __init__(self, app, runtime, crypto: WeChatCrypto | None = None, compatible: bool = False):
        self.app, self.runtime, self.crypto, self.compatible = app, runtime, crypto, compatible
        self.client = app.test_client()
        self._ids = count(6_900_000_000_000_000_001)

    def query(self, timestamp: int | None = None, token: str = TOKEN, **extra) -> dict:
        """Signed query parameters (signature = sha1 of sorted token, timestamp, nonce)."""
        ts, nonce = str(timestamp or int(time.time())), f"{next(self._ids) % 10**9}"
        return {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce, **extra}

    @staticmethod
    def message_xml(kind: str, openid: str = OPENID, msg_id: int | str | None = None,
                    created: int | None = None, **fields: str) -> str:
        """A message exactly as WeChat pushes it (CDATA strings, integer times and ids)."""
        parts = [f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>",
                 f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
                 f"<CreateTime>{created or int(time.time())}</CreateTime>",
                 f"<MsgType><![CDATA[{kind}]]></MsgType>"]
        parts += [f"<{name}><![CDATA[{value}]]></{name}>" for name, value in fields.items()]
        if msg_id is not None:
            parts.append(f"<MsgId>{msg_id}</MsgId>")
        return "<xml>" + "".join(parts) + "</xml>"

    def post(self, xml: str, query: dict | None = None, openid: str = OPENID):
        """POST one message to /wechat; in safe mode encrypt it first, as WeChat does."""
        query = dict(query or self.query())
        body = xml
        if self.crypto:
            envelope = xmltodict.parse(self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
            plain_fields = xml[len("<xml>"):-len("</xml>")] if self.compatible else \
                f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            body = f"<xml>{plain_fields}<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
            query.update(openid=openid, encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        else:
            query.setdefault("openid", openid)
        return self.client.post("/wechat?" + urllib.parse.urlencode(query), data=body.encode("utf-8"),
                                content_type="text/xml")

    def reply_of(self, response, openid: str = OPENID) -> str:
        """The text the resident sees ('' for WeChat's empty "success")."""
        assert response.status_code == 200, response.data
        if response.data == b"success":
            return ""
        xml = response.get_data(as_text=True)
        if self.crypto:
            envelope = xmltodict.parse(xml)["xml"]
            assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
            xml = self.crypto.decrypt_message(xml, envelope["MsgSignature"], envelope["TimeStamp"],
                                              envelope["Nonce"])
        reply = xmltodict.parse(xml)["xml"]
        assert (reply["MsgType"], reply["ToUserName"], reply["FromUserName"]) == ("text", openid, ACCOUNT)
        return reply["Content"]

    def send(self, kind: str, openid: str = OPENID, msg_id: int | str | None = None, **fields) -> str:
        """Send one message of any kind and return the reply text (a fresh MsgId unless given)."""
        if msg_id is None and kind != "event":
            msg_id = next(self._ids)
        return self.reply_of(self.post(self.message_xml(kind, openid, msg_id, **fields), openid=openid),
                             openid)

    def text(self, content: str, **kw) -> str:
        """Send a typed message."""
        return self.send("text", Content=content, **kw)


@pytest.fixture
def wechat_runtime(sqlite_url, shared_runtime) -> Runtime:
    """A runtime in plaintext mode (token, AppID and AppSecret set; no AES key)."""
    return make_runtime(wechat_environ(sqlite_url), shared_runtime)


@pytest.fixture
def wechat(wechat_runtime) -> FakeWeChat:
    """The app in plaintext mode, driven like WeChat drives it."""
    return FakeWeChat(create_app(wechat_runtime), wechat_runtime)


@pytest.fixture
def safe_wechat(sqlite_url, shared_runtime) -> FakeWeChat:
    """The app in safe mode (JIUZHU_WECHAT_AES_KEY set); messages and replies encrypted."""
    rt = make_runtime(wechat_environ(sqlite_url, safe=True), shared_runtime)
    return FakeWeChat(create_app(rt), rt, WeChatCrypto(TOKEN, AES_KEY, APP_ID))


@pytest.fixture
def compatible_wechat(safe_wechat) -> FakeWeChat:
    """Compatible mode: the body carries the plaintext fields and the Encrypt element."""
    safe_wechat.compatible = True
    return safe_wechat


CUSTOM_SEND = "/cgi-bin/message/custom/send"
MASS_SEND = "/cgi-bin/message/mass/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
MESSAGE_PATHS = (CUSTOM_SEND, MASS_SEND, TEMPLATE_SEND)


class FakeWeChatApi:
    """A local stand-in for api.weixin.qq.com: /cgi-bin/token, /cgi-bin/menu/create, and the three
    ways of sending: custom/send (客服消息), mass/send (群发 by OpenID list), template/send.

    `answers[path]`: errcodes to answer, one per call, before {"errcode": 0}; `stall`: paths that
    take `stall_seconds` to answer (a client with a shorter timeout sees the request go out and no
    answer). A mass/send refuses a list of fewer than 2 or more than 10,000 openids (40130), as
    WeChat does; one already given this clientmsgid gets 45065 with the first job's msg_id.
    """

    def __init__(self):
        self.requests: list[tuple[str, dict, object]] = []   # (path, query, JSON body or None)
        self.reject_tokens: set[str] = set()                 # answered with errcode 40001
        self.answers: dict[str, list[int]] = {path: [] for path in MESSAGE_PATHS}
        self.stall: set[str] = set()
        self.stall_seconds = 1.5
        self._tokens = count(1)
        self._msg_ids = count(1000000001)
        self._clientmsgids: dict[str, int] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 — http.server's naming
                api._answer(self, None)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                api._answer(self, json.loads(self.rfile.read(length).decode("utf-8")))

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def token_requests(self) -> list[dict]:
        """The /cgi-bin/token calls received."""
        return [q for path, q, _ in self.requests if path == "/cgi-bin/token"]

    def calls(self, path: str) -> list[dict]:
        """The JSON bodies of every call to a message path, in order."""
        return [body for p, _, body in self.requests if p == path]

    def _answer(self, handler, body) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.requests.append((parts.path, query, body))
        if parts.path == "/cgi-bin/token":
            ok = query == {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
            result = ({"access_token": f"ACCESS-{next(self._tokens)}", "expires_in": 7200} if ok
                      else {"errcode": 40125, "errmsg": "invalid appsecret"})
        elif parts.path == "/cgi-bin/menu/create":
            token = query.get("access_token", "")
            result = ({"errcode": 40001, "errmsg": "invalid credential"}
                      if token in self.reject_tokens or not token.startswith("ACCESS-")
                      else {"errcode": 0, "errmsg": "ok"})
        elif parts.path in MESSAGE_PATHS:
            result = self._message(parts.path, query.get("access_token", ""), body)
            if parts.path in self.stall:
                time.sleep(self.stall_seconds)  # the client gives up; what it sent was received
        else:
            handler.send_error(404)
            return
        send_json(handler, result)

    def _message(self, path: str, token: str, body: dict) -> dict:
        if token in self.reject_tokens or not token.startswith("ACCESS-"):
            return {"errcode": 40001, "errmsg": "invalid credential"}
        queued = self.answers[path]
        code = queued.pop(0) if queued else 0
        if code:
            return {"errcode": code, "errmsg": "error"}
        if path == MASS_SEND:
            if not 2 <= len(body.get("touser") or []) <= 10000:
                return {"errcode": 40130, "errmsg": "invalid openid list size, at least two openid"}
            known = self._clientmsgids.get(body.get("clientmsgid") or "")
            if known:
                return {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": known}
            msg_id = next(self._msg_ids)
            if body.get("clientmsgid"):
                self._clientmsgids[body["clientmsgid"]] = msg_id
            return {"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id,
                    "msg_data_id": msg_id * 10}
        if path == TEMPLATE_SEND:
            return {"errcode": 0, "errmsg": "ok", "msgid": next(self._msg_ids)}
        return {"errcode": 0, "errmsg": "ok"}


def send_json(handler, result: dict) -> None:
    """Answer a fake API request with a JSON body, as WeChat's API does."""
    data = json.dumps(result).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@pytest.fixture
def fake_wechat_api():
    """A running FakeWeChatApi on 127.0.0.1, stopped afterwards."""
    api = FakeWeChatApi()
    api.thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()
    api.thread.join(5)
