"""The outbox senders against local fakes of Twilio's and WeChat's APIs (never the internet),
the Twilio status callback, and `jiuzhu worker` end to end."""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.commands.worker import run_worker
from bot.config import load_config
from bot.errors import ConfigError
from bot.outbox import (CANCELLED, FAILED, QUEUED, SENT, PermanentFailure, Policy, TemporaryFailure,
                        UnknownOutcome, deliver_due, enqueue)
from bot.runtime import Runtime
from bot.storage.models import OutboxMessage
from bot.subscriptions import outbox_refusal, stop_everything
from handlers.senders import CUSTOM_SEND, TEMPLATE_SEND, SmsSender, WechatSender, build_senders
from handlers.wechat_api import WeChatApi, WeChatApiError
from web.app import create_app
from tests.conftest import ROOT
from tests.handlers.conftest import APP_ID, APP_SECRET, OPENID, FakeWeChatApi
from tests.test_outbox import meet_at_first_claim

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "f3c1a9e2b7d44e8a9c0b5d6e7f8a9b0c"  # made up
FROM = "+15005550006"
PUBLIC_URL = "https://jiuzhu.example.gov.cn"
PHONE = "+8613800000001"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


class FakeTwilioApi:
    """A local stand-in for api.twilio.com's Messages resource: records each POST, answers with a SID."""

    def __init__(self):
        self.posts: list[dict] = []              # form fields of every message created
        self.auth: list[str] = []                # Authorization headers seen
        self.failures: list[tuple[int, dict]] = []   # answers to give before succeeding
        self.delay = 0.0
        self.started = threading.Event()         # set when a request arrives
        self._sids = count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's naming
                fake._answer(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def bodies(self) -> list[str]:
        """The Body of every message Twilio accepted."""
        return [p["Body"] for p in self.posts if "sid" in p]

    def _answer(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(handler.rfile.read(length).decode("utf-8")))
        if handler.path != MESSAGES_PATH:
            handler.send_error(404)
            return
        self.auth.append(handler.headers.get("Authorization", ""))
        self.posts.append(form)
        self.started.set()
        time.sleep(self.delay)
        if self.failures:
            status, result = self.failures.pop(0)
        else:
            sid = f"SM{next(self._sids):032x}"
            form["sid"] = sid
            status, result = 201, {"sid": sid, "account_sid": ACCOUNT_SID, "to": form.get("To"),
                                   "from": form.get("From"), "body": form.get("Body"), "status": "queued",
                                   "num_segments": "1", "direction": "outbound-api",
                                   "api_version": "2010-04-01", "uri": MESSAGES_PATH.replace(".json", f"/{sid}.json")}
        data = json.dumps(result).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up waiting (timeout tests)
            pass


@pytest.fixture
def fake_twilio():
    """A running FakeTwilioApi on 127.0.0.1, stopped afterwards."""
    fake = FakeTwilioApi()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(5)


def twilio_environ(url: str) -> dict[str, str]:
    return {"JIUZHU_DATABASE_URL": url, "JIUZHU_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "JIUZHU_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "JIUZHU_TWILIO_FROM": FROM, "JIUZHU_PUBLIC_URL": PUBLIC_URL}


def sms_runtime(db_url: str, api_base: str, **overrides) -> Runtime:
    """A runtime with Twilio configured and `[sms] api_base` on the fake."""
    return Runtime(load_config(ROOT / "config.toml", environ=twilio_environ(db_url),
                               overrides={"sms.api_base": api_base, **overrides}))


@pytest.fixture
def rt(sqlite_url, fake_twilio):
    runtime = sms_runtime(sqlite_url, fake_twilio.url, **{"sms.send_timeout_seconds": 1})
    yield runtime
    runtime.db.dispose()


def deliver(runtime, now=None):
    """One worker round with the real senders."""
    return deliver_due(runtime, build_senders(runtime), outbox_refusal(runtime), Policy(), now=now)


def status_of(runtime, message_id: int) -> OutboxMessage:
    with runtime.db.session() as s:
        row = s.get(OutboxMessage, message_id)
        s.expunge(row)
        return row


# ---- SMS through Twilio --------------------------------------------------------------------


def test_an_sms_is_posted_to_twilio_with_a_status_callback(rt, fake_twilio, caplog):
    caplog.set_level(logging.INFO, logger="handlers.senders")
    message_id, _ = enqueue(rt, "sms", "13800000001", "您的低保申请已受理，请留意乡镇电话。", "lead:L1:accepted")
    assert deliver(rt) == Counter({SENT: 1})
    [post] = fake_twilio.posts
    assert post["To"] == PHONE and post["From"] == FROM and post["Body"] == "您的低保申请已受理，请留意乡镇电话。"
    assert post["StatusCallback"] == PUBLIC_URL + "/sms/status"
    assert fake_twilio.auth == ["Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()]
    row = status_of(rt, message_id)
    assert (row.status, row.provider_id, row.segments, row.attempts) == (SENT, post["sid"], 1, 1)
    assert "SMS sent to +86*******0001: 1 segment(s)" in caplog.text
    assert "低保" not in caplog.text and "13800000001" not in caplog.text


def test_a_messaging_service_sid_is_sent_as_such(sqlite_url, fake_twilio):
    sender = SmsSender(ACCOUNT_SID, AUTH_TOKEN, "MG" + "2" * 32, None, api_base=fake_twilio.url, timeout=2)
    sender.send(PHONE, "hello")
    assert fake_twilio.posts[0]["MessagingServiceSid"] == "MG" + "2" * 32
    assert "From" not in fake_twilio.posts[0] and "StatusCallback" not in fake_twilio.posts[0]


def test_twilio_500_is_retried_with_backoff_then_failed(rt, fake_twilio):
    fake_twilio.failures = [(500, {"code": 20500, "message": "Internal Server Error", "status": 500})] * 5
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    now = None
    for attempt in range(1, 6):
        deliver(rt, now)
        row = status_of(rt, message_id)
        assert (row.status, row.attempts) == (QUEUED if attempt < 5 else FAILED, attempt)
        assert row.last_error == "Twilio HTTP 500 error 20500"
        assert deliver(rt, now) == Counter()                       # not due again yet
        now = row.next_attempt_at
    assert len(fake_twilio.posts) == 5 and fake_twilio.bodies() == []


def test_a_recovered_twilio_gets_the_message_once(rt, fake_twilio):
    fake_twilio.failures = [(503, {"message": "Service Unavailable"})]
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    deliver(rt)
    row = status_of(rt, message_id)
    deliver(rt, now=row.next_attempt_at)
    assert status_of(rt, message_id).status == SENT and fake_twilio.bodies() == ["通知"]


def test_a_refused_number_fails_at_once_without_keeping_twilios_text(rt, fake_twilio):
    fake_twilio.failures = [(400, {"code": 21211, "status": 400,
                                   "message": f"The 'To' number {PHONE} is not a valid phone number."})]
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    assert deliver(rt) == Counter({FAILED: 1})
    assert status_of(rt, message_id).last_error == "Twilio HTTP 400 error 21211"


def test_an_unsubscribed_number_is_cancelled_and_nothing_is_posted(rt, fake_twilio):
    with rt.db.unit_of_work() as s:  # the resident sent STOP
        stop_everything(s, rt, "sms", "138 0000 0001", wording="STOP", source="sms_keyword")
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    assert deliver(rt) == Counter({CANCELLED: 1})
    row = status_of(rt, message_id)
    assert row.status == CANCELLED and fake_twilio.posts == []
    assert row.last_error.startswith("cancelled: the number opted out (STOP/退订) on 20")


def test_a_timeout_after_sending_is_never_retried(rt, fake_twilio):
    fake_twilio.delay = 1.5  # longer than the 1 s read timeout: Twilio may have the message
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    assert deliver(rt) == Counter({FAILED: 1})
    row = status_of(rt, message_id)
    assert row.last_error == "outcome unknown: no answer from Twilio (ReadTimeout)"
    assert len(fake_twilio.posts) == 1


def test_an_unreachable_twilio_is_a_temporary_failure(sqlite_url):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = SmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM, None, api_base=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(TemporaryFailure, match="unreachable"):
        sender.send(PHONE, "通知")


def test_an_over_long_sms_is_refused_before_posting(rt, fake_twilio):
    with pytest.raises(PermanentFailure, match="1600"):
        SmsSender.from_runtime(rt).send(PHONE, "字" * 1601)
    assert fake_twilio.posts == []


def test_two_workers_post_each_sms_once(any_db_url, fake_twilio):
    workers = [sms_runtime(any_db_url, fake_twilio.url) for _ in range(2)]
    meet = threading.Barrier(len(workers))
    for runtime in workers:
        meet_at_first_claim(runtime, meet)
    bodies = [f"第{i}号通知" for i in range(24)]
    for i, body in enumerate(bodies):
        enqueue(workers[0], "sms", f"+86138000001{i:02d}", body, f"notice:{i}")
    errors = []

    def work(runtime):
        try:
            run_worker(runtime, build_senders(runtime), outbox_refusal(runtime), once=True)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert Counter(fake_twilio.bodies()) == Counter(bodies)
    with workers[0].db.session() as s:
        rows = s.execute(select(OutboxMessage)).scalars().all()
        assert {r.status for r in rows} == {SENT}
        assert sorted(r.provider_id for r in rows) == sorted(p["sid"] for p in fake_twilio.posts)
    for runtime in workers:
        runtime.db.dispose()


@pytest.mark.parametrize("base", ["http://api.twilio.com", "ftp://127.0.0.1"])
def test_the_twilio_base_must_be_https_or_local(sqlite_url, base):
    with pytest.raises(ConfigError, match="sms.api_base"):
        SmsSender.from_runtime(sms_runtime(sqlite_url, base))


def test_missing_credentials_are_config_errors(sqlite_url):
    bare = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": sqlite_url}))
    with pytest.raises(ConfigError, match="no channel to send with"):
        build_senders(bare)
    partial = Runtime(load_config(ROOT / "config.toml", environ={
        "JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_TWILIO_AUTH_TOKEN": AUTH_TOKEN}))
    with pytest.raises(ConfigError, match="JIUZHU_TWILIO_ACCOUNT_SID"):
        build_senders(partial)


# ---- Twilio's status callback ----------------------------------------------------------------


@pytest.fixture
def client(rt, shared_runtime):
    return create_app(Runtime(rt.config, kb=shared_runtime.kb, matcher=shared_runtime.matcher, db=rt.db)).test_client()


def post_status(client, form: dict, token: str = AUTH_TOKEN, url: str = PUBLIC_URL + "/sms/status"):
    signature = RequestValidator(token).compute_signature(url, form)
    return client.post("/sms/status", data=form, headers={"X-Twilio-Signature": signature})


def status_form(sid: str, status: str, **extra) -> dict:
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": ACCOUNT_SID, "From": FROM, "To": PHONE, "ApiVersion": "2010-04-01", **extra}


def test_a_signed_status_callback_is_recorded(rt, client, fake_twilio):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    deliver(rt)
    sid = status_of(rt, message_id).provider_id
    for status in ("sent", "undelivered"):
        response = post_status(client, status_form(sid, status, **({"ErrorCode": "30003"} if status == "undelivered" else {})))
        assert response.status_code == 204 and response.data == b""
    row = status_of(rt, message_id)
    assert (row.status, row.provider_status) == (SENT, "undelivered")
    assert row.last_error == "delivery undelivered: provider error 30003"


@pytest.mark.parametrize("token, url", [("0" * 32, PUBLIC_URL + "/sms/status"),   # not our Auth Token
                                        (AUTH_TOKEN, PUBLIC_URL + "/sms")])       # signed for another URL
def test_a_badly_signed_status_callback_is_refused(rt, client, fake_twilio, token, url):
    message_id, _ = enqueue(rt, "sms", PHONE, "通知", "k")
    deliver(rt)
    sid = status_of(rt, message_id).provider_id
    assert post_status(client, status_form(sid, "delivered"), token=token, url=url).status_code == 403
    assert client.post("/sms/status", data=status_form(sid, "delivered")).status_code == 403  # unsigned
    assert status_of(rt, message_id).provider_status is None


def test_a_status_for_an_unknown_message_is_acknowledged_and_logged(client, caplog):
    caplog.set_level(logging.INFO, logger="handlers.sms")
    assert post_status(client, status_form("SM" + "e" * 32, "delivered")).status_code == 204
    assert "SMS status callback 'delivered': unknown" in caplog.text


# ---- WeChat customer-service messages ------------------------------------------------------


class FakeCustomerService(FakeWeChatApi):
    """The fake WeChat API; `errcodes`: custom/send's answers before {"errcode": 0}."""

    @property
    def errcodes(self) -> list[int]:
        return self.answers[CUSTOM_SEND]

    @errcodes.setter
    def errcodes(self, codes: list[int]) -> None:
        self.answers[CUSTOM_SEND] = list(codes)

    def messages(self) -> list[tuple[str, dict]]:
        """(access token, JSON body) of every customer-service call."""
        return [(q["access_token"], b) for p, q, b in self.requests if p == CUSTOM_SEND]


@pytest.fixture
def fake_cs():
    api = FakeCustomerService()
    api.thread = threading.Thread(target=api.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    api.thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()
    api.thread.join(5)


@pytest.fixture
def wechat_rt(sqlite_url, fake_cs):
    runtime = Runtime(load_config(ROOT / "config.toml", overrides={"wechat.api_base": fake_cs.url}, environ={
        "JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_WECHAT_APP_ID": APP_ID, "JIUZHU_WECHAT_APP_SECRET": APP_SECRET}))
    yield runtime
    runtime.db.dispose()


def test_a_long_reply_goes_out_as_a_customer_service_message(wechat_rt, fake_cs):
    reply = "低保申请需要准备：\n" + "身份证、户口簿、收入证明。]]>" * 200   # far beyond a passive reply's 2048 bytes
    message_id, _ = enqueue(wechat_rt, "wechat", OPENID, reply, "wechat:reply:6900000000000000001")
    assert set(build_senders(wechat_rt)) == {"wechat"}
    assert deliver(wechat_rt) == Counter({SENT: 1})
    assert fake_cs.messages() == [("ACCESS-1", {"touser": OPENID, "msgtype": "text", "text": {"content": reply}})]
    assert status_of(wechat_rt, message_id).provider_id is None


def test_a_refused_token_is_renewed_and_the_message_sent_once(wechat_rt, fake_cs):
    api = WeChatApi(wechat_rt.db, APP_ID, APP_SECRET, fake_cs.url, timeout=5)
    api.access_token()
    fake_cs.reject_tokens.add("ACCESS-1")
    WechatSender(api).send(OPENID, "您好")
    assert [token for token, _ in fake_cs.messages()] == ["ACCESS-1", "ACCESS-2"]


@pytest.mark.parametrize("errcode, error", [(45015, PermanentFailure),   # 48-hour window closed
                                            (43004, PermanentFailure),   # the resident unfollowed
                                            (-1, TemporaryFailure)])     # WeChat busy
def test_wechat_errcodes_are_classified(wechat_rt, fake_cs, errcode, error):
    fake_cs.errcodes = [errcode]
    with pytest.raises(error, match=f"errcode {errcode}"):
        WechatSender.from_runtime(wechat_rt).send(OPENID, "您好")


def test_a_wechat_timeout_after_sending_is_an_unknown_outcome(wechat_rt, fake_cs, monkeypatch):
    sender = WechatSender.from_runtime(wechat_rt)
    sender.api.access_token()

    def no_answer(*_args, **_kwargs):
        raise TimeoutError("timed out")  # raised by getresponse(): the request went out

    monkeypatch.setattr("urllib.request.urlopen", no_answer)
    with pytest.raises(UnknownOutcome, match="TimeoutError"):
        sender.send(OPENID, "您好")


@pytest.fixture
def template_rt(sqlite_url, fake_cs):
    """A deployment whose config.toml names a notice template."""
    runtime = Runtime(load_config(ROOT / "config.toml", overrides={
        "wechat.api_base": fake_cs.url, "wechat.notice_template_id": "TPL-notice",
        "wechat.notice_template_url": "https://xingguo.example.gov.cn/notices"}, environ={
        "JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_WECHAT_APP_ID": APP_ID, "JIUZHU_WECHAT_APP_SECRET": APP_SECRET}))
    yield runtime
    runtime.db.dispose()


def test_a_closed_48_hour_window_sends_the_notice_template_instead(template_rt, fake_cs):
    fake_cs.errcodes = [45015]
    message_id, _ = enqueue(template_rt, "wechat", OPENID, "【新一年低保标准调整】\n自2025年1月1日起……", "k:1")
    assert deliver(template_rt) == Counter({SENT: 1})
    (template,) = fake_cs.calls(TEMPLATE_SEND)
    assert template["touser"] == OPENID and template["template_id"] == "TPL-notice"
    assert template["data"]["thing1"] == {"value": "新一年低保标准调整"}
    assert template["data"]["time2"]["value"].startswith(f"{dt.datetime.now(dt.timezone(dt.timedelta(hours=8))):%Y-}")
    assert template["url"] == "https://xingguo.example.gov.cn/notices"
    assert len(fake_cs.messages()) == 1  # the customer-service message is not tried again
    assert status_of(template_rt, message_id).provider_id  # the template's msgid


def test_without_a_template_a_closed_window_fails_saying_why(wechat_rt, fake_cs):
    fake_cs.errcodes = [45015]
    message_id, _ = enqueue(wechat_rt, "wechat", OPENID, "您好", "k:1")
    assert deliver(wechat_rt) == Counter({FAILED: 1})
    row = status_of(wechat_rt, message_id)
    assert "48 hours" in row.last_error and "notice_template_id" in row.last_error
    assert fake_cs.calls(TEMPLATE_SEND) == [] and row.attempts == 1


@pytest.mark.parametrize("errcode", [45047, 45009, 45011])
def test_a_used_up_quota_waits_an_hour_then_sends(wechat_rt, fake_cs, errcode):
    fake_cs.errcodes = [errcode]
    message_id, _ = enqueue(wechat_rt, "wechat", OPENID, "您好", "k:1")
    before = dt.datetime.now(dt.timezone.utc)
    assert deliver(wechat_rt) == Counter({QUEUED: 1})
    row = status_of(wechat_rt, message_id)
    wait = row.next_attempt_at.replace(tzinfo=dt.timezone.utc) - before
    assert dt.timedelta(minutes=59) < wait < dt.timedelta(minutes=61)  # [wechat] limit_retry_minutes, not 30 s
    assert deliver(wechat_rt, now=before + dt.timedelta(minutes=30)) == Counter()
    assert deliver(wechat_rt, now=before + dt.timedelta(minutes=61)) == Counter({SENT: 1})
    assert len(fake_cs.messages()) == 2


def test_a_template_refused_for_good_fails_with_the_reason(template_rt, fake_cs):
    fake_cs.errcodes = [45015]
    fake_cs.answers[TEMPLATE_SEND] = [40037]
    message_id, _ = enqueue(template_rt, "wechat", OPENID, "您好", "k:1")
    assert deliver(template_rt) == Counter({FAILED: 1})
    assert "notice_template_id is not a template" in status_of(template_rt, message_id).last_error


# ---- `jiuzhu worker` as a process ------------------------------------------------------------


def worker_env(tmp_path: Path, fake_url: str, sqlite_url: str) -> tuple[Path, dict]:
    """A config file whose Twilio base is the fake, and the environment of a deployment."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert 'api_base = "https://api.twilio.com"' in text
    config = tmp_path / "config.toml"
    config.write_text(text.replace('api_base = "https://api.twilio.com"', f'api_base = "{fake_url}"'),
                      encoding="utf-8")
    env = {**os.environ, **twilio_environ(sqlite_url), "JIUZHU_LOG_LEVEL": "INFO"}
    return config, env


def test_worker_once_sends_what_is_due_and_exits(cli, rt, fake_twilio, tmp_path, sqlite_url):
    for i in range(3):
        enqueue(rt, "sms", PHONE, f"通知 {i}", f"k{i}")
    config, env = worker_env(tmp_path, fake_twilio.url, sqlite_url)
    proc = cli("worker", "--once", "--config", str(config), env=env)
    assert proc.stdout.strip() == "3 sent"
    assert sorted(fake_twilio.bodies()) == ["通知 0", "通知 1", "通知 2"]
    assert "通知" not in proc.stderr and "13800000001" not in proc.stderr
    assert proc.stderr.count("SMS sent to +86*******0001: 1 segment(s)") == 3
    assert cli("worker", "--once", "--config", str(config), env=env).stdout.strip() == "nothing to send"


def test_sigterm_lets_the_current_message_finish(rt, fake_twilio, tmp_path, sqlite_url):
    ids = [enqueue(rt, "sms", PHONE, f"通知 {i}", f"k{i}")[0] for i in range(3)]
    fake_twilio.delay = 1.0
    config, env = worker_env(tmp_path, fake_twilio.url, sqlite_url)
    exe = Path(os.sys.executable).with_name("jiuzhu")
    proc = subprocess.Popen([str(exe), "worker", "--config", str(config)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert fake_twilio.started.wait(30), "the worker never sent anything"
        proc.send_signal(signal.SIGTERM)  # while Twilio is still answering the first message
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "1 sent"
    assert fake_twilio.bodies() == ["通知 0"]
    assert [status_of(rt, i).status for i in ids] == [SENT, QUEUED, QUEUED]


def test_the_worker_loads_no_web_routes():
    code = ("import sys\n"
            "from bot.cli import build_parser\n"
            "import bot.commands.worker, handlers.senders\n"
            "build_parser()\n"
            "print(sorted(m for m in sys.modules if m in ('flask', 'handlers.sms', 'handlers.wechat', 'web.app')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("error, kind", [
    (WeChatApiError("HTTP 503", status=503), TemporaryFailure), (WeChatApiError("HTTP 429", status=429), TemporaryFailure),
    (WeChatApiError("HTTP 403", status=403), PermanentFailure), (WeChatApiError("unreachable"), TemporaryFailure),
    (WeChatApiError("no answer", maybe_received=True), UnknownOutcome)])
def test_a_failed_wechat_call_becomes_the_outbox_kind_of_failure(error, kind):
    from handlers.wechat_errors import failure_of

    assert type(failure_of(error)) is kind
