"""The Twilio SMS webhook, driven with form posts signed exactly as Twilio signs them.

Fixtures live in this file (not tests/handlers/conftest.py) so they cannot clash
with the WeChat adapter's fixtures.
"""
from __future__ import annotations

import json
import logging
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.config import load_config
from bot.messages import Reply
from bot.runtime import Runtime
from bot.storage.models import Conversation, ProcessedMessage
from bot.subscriptions import is_stopped
from handlers.sms import keyword_of
from handlers.sms_text import paginate, segments, ucs2_len
from web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "f3c1a9e2b7d44e8a9c0b5d6e7f8a9b0c"  # a made-up Auth Token
SHARED_KEY = "sk-made-up-shared-key-secret"
PUBLIC_URL = "https://jiuzhu.example.gov.cn"
SMS_URL = PUBLIC_URL + "/sms"
PHONE = "+8613800000001"
MASKED = "+86*******0001"
LIMIT = 134
SUFFIX = "（回复M看更多）"


def twilio_env(sqlite_url: str, **extra: str) -> dict[str, str]:
    """The environment of a deployment with Twilio configured."""
    return {"JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_TWILIO_AUTH_TOKEN": TOKEN,
            "JIUZHU_TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "JIUZHU_TWILIO_FROM": "+15005550006",
            "JIUZHU_PUBLIC_URL": PUBLIC_URL, **extra}


def make_runtime(environ: dict, shared_runtime) -> Runtime:
    """A runtime on the given environment that reuses the session's knowledge base and matcher."""
    return Runtime(load_config(ROOT / "config.toml", environ=environ),
                   kb=shared_runtime.kb, matcher=shared_runtime.matcher)


@pytest.fixture
def sms_runtime(sqlite_url, shared_runtime):
    """A runtime whose config carries the Twilio secrets and the public URL."""
    return make_runtime(twilio_env(sqlite_url), shared_runtime)


@pytest.fixture
def engine_calls(sms_runtime, monkeypatch):
    """Counts the messages that reach the conversation engine."""
    calls = []
    real = sms_runtime.engine.route_limited

    def spy(turn):
        calls.append(turn.message)
        return real(turn)

    monkeypatch.setattr(sms_runtime.engine, "route_limited", spy)
    return calls


class Twilio:
    """Posts incoming-message webhooks the way Twilio does: form fields, signed with the Auth Token."""

    def __init__(self, client):
        self.client = client

    @staticmethod
    def params(body: str = "", sid: str | None = None, number: str = PHONE, **extra: str) -> dict:
        """A realistic incoming-SMS form."""
        sid = sid or "SM" + uuid.uuid4().hex
        return {"ToCountry": "US", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
                "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
                "Body": body, "FromCountry": "CN", "To": "+15005550006", "ToZip": "",
                "NumSegments": "1", "MessageSid": sid, "AccountSid": "AC" + "1" * 32,
                "From": number, "ApiVersion": "2010-04-01", **extra}

    def post(self, params: dict, url: str = SMS_URL, token: str = TOKEN, path: str = "/sms",
             signed_params: dict | None = None, headers: dict | None = None, algorithm=None, **kw):
        """POST the form with X-Twilio-Signature computed for `url` (what Twilio was told)."""
        signature = RequestValidator(token).compute_signature(
            url, signed_params if signed_params is not None else params, algorithm)
        return self.client.post(path, data=params,
                                headers={"X-Twilio-Signature": signature, **(headers or {})}, **kw)

    def send(self, body: str = "", **extra: str) -> list[str]:
        """Send one message and return the texts the resident receives."""
        response = self.post(self.params(body, **extra))
        assert response.status_code == 200, response.data
        return messages_of(response)


def messages_of(response) -> list[str]:
    """The <Message> texts of a TwiML response."""
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


@pytest.fixture
def twilio(sms_runtime):
    """A Twilio stand-in posting to the app built on sms_runtime."""
    return Twilio(create_app(sms_runtime).test_client())


# ---- answering ---------------------------------------------------------------------------


def test_question_is_answered_in_twiml(twilio):
    response = twilio.post(twilio.params("低保标准是多少"))
    assert response.status_code == 200
    assert response.content_type.startswith("text/xml")
    (text,) = messages_of(response)
    assert "900" in text
    assert ucs2_len(text) <= LIMIT


def test_empty_body_gets_the_engines_empty_message_reply(twilio, sms_runtime):
    assert twilio.send("") == [sms_runtime.kb.message("empty_message", "sms")]


def test_mms_without_text_gets_a_polite_reply(twilio, sms_runtime, engine_calls):
    texts = twilio.send("", NumMedia="1", MediaUrl0="https://api.twilio.com/2010-04-01/Media/ME1",
                        MediaContentType0="image/jpeg")
    assert texts == [sms_runtime.kb.message("media_not_supported_sms", "sms")]
    assert not engine_calls


def test_mms_with_text_answers_the_text(twilio):
    (text,) = twilio.send("低保标准是多少", NumMedia="1", MediaContentType0="image/jpeg",
                          MediaUrl0="https://api.twilio.com/2010-04-01/Media/ME2")
    assert "900" in text


def test_a_bug_in_the_engine_gets_an_apology_in_valid_twiml(twilio, sms_runtime, monkeypatch):
    def broken(message, cid, state):
        raise RuntimeError("bug")

    monkeypatch.setattr(sms_runtime.engine, "_route", broken)
    assert twilio.send("低保标准是多少") == [sms_runtime.kb.message("generic_apology", "sms")]


def test_a_form_without_sender_is_a_bad_request(twilio, engine_calls):
    params = twilio.params("低保标准是多少")
    del params["From"]
    assert twilio.post(params).status_code == 400
    assert not engine_calls


# ---- verification ------------------------------------------------------------------------


def _forged(twilio: Twilio, params: dict, how: str):
    if how == "missing":
        return twilio.client.post("/sms", data=params)
    if how == "garbage":
        return twilio.client.post("/sms", data=params, headers={"X-Twilio-Signature": "bm90IGEgc2ln"})
    if how == "wrong token":
        return twilio.post(params, token="0" * 32)
    if how == "other url":
        return twilio.post(params, url="https://attacker.example.com/sms")
    if how == "request url":  # what a handler trusting request.url behind the proxy would check
        return twilio.post(params, url="http://localhost/sms")
    if how == "tampered body":
        return twilio.post({**params, "Body": "STOP"}, signed_params=params)
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing", "garbage", "wrong token", "other url", "request url",
                                 "tampered body"])
def test_unsigned_or_forged_requests_are_403_with_one_log_line(twilio, sms_runtime, engine_calls,
                                                                caplog, how):
    caplog.set_level(logging.INFO, logger="handlers.sms")
    response = _forged(twilio, twilio.params("低保标准是多少"), how)
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "handlers.sms"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert "rejected" in records[0].getMessage()
    assert "13800000001" not in caplog.text
    assert not engine_calls
    with sms_runtime.db.session() as s:  # verified before anything was claimed or stored
        assert s.execute(select(ProcessedMessage)).first() is None


def test_public_url_behind_a_tls_terminating_proxy_is_accepted(twilio):
    """The request arrives as http://127.0.0.1:8000/sms; Twilio signed https://…gov.cn/sms."""
    response = twilio.post(twilio.params("低保标准是多少"), base_url="http://127.0.0.1:8000",
                           headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200
    assert "900" in messages_of(response)[0]


def test_query_string_of_the_configured_webhook_is_part_of_the_signed_url(twilio):
    params = twilio.params("低保标准是多少")
    assert twilio.post(params, url=SMS_URL + "?county=xingguo", path="/sms?county=xingguo").status_code == 200


def test_no_auth_token_configured_rejects_everything(sqlite_url, shared_runtime, caplog):
    env = twilio_env(sqlite_url)
    del env["JIUZHU_TWILIO_AUTH_TOKEN"]
    client = Twilio(create_app(make_runtime(env, shared_runtime)).test_client())
    caplog.set_level(logging.WARNING, logger="handlers.sms")
    assert client.post(client.params("低保标准是多少")).status_code == 403
    assert "JIUZHU_TWILIO_AUTH_TOKEN" in caplog.text


SETTINGS = {"X-Twilio-Webhooks-Signature-Settings": "key=KS0123456789abcdef,algorithm=HMAC_SHA256"}


def test_shared_key_signature_is_refused_without_the_shared_key(twilio, caplog):
    caplog.set_level(logging.WARNING, logger="handlers.sms")
    response = twilio.post(twilio.params("低保标准是多少"), headers=SETTINGS, algorithm="HMAC_SHA256")
    assert response.status_code == 403
    assert "SharedKey" in caplog.text


def test_shared_key_signature_is_accepted_with_the_shared_key(twilio, sms_runtime):
    sms_runtime.config.secrets["twilio_shared_key"] = SHARED_KEY  # no environment variable sets it yet
    params = twilio.params("低保标准是多少")
    assert twilio.post(params, token=SHARED_KEY, headers=SETTINGS,
                       algorithm="HMAC_SHA256").status_code == 200
    assert twilio.post(twilio.params("低保标准是多少"), token=SHARED_KEY, algorithm="HMAC_SHA256",
                       headers={"X-Twilio-Webhooks-Signature-Settings": "algorithm=MD5"}).status_code == 403


def test_oversized_body_is_refused_before_anything_runs(twilio, engine_calls):
    response = twilio.post(twilio.params("低" * 20000))
    assert response.status_code == 413
    assert not engine_calls


# ---- exactly once --------------------------------------------------------------------------


def test_a_retried_message_sid_runs_once_and_gets_the_same_twiml(twilio, sms_runtime, engine_calls):
    params = twilio.params("申请")
    first, retry = twilio.post(params), twilio.post(params)
    assert first.status_code == retry.status_code == 200
    assert first.data == retry.data
    assert len(engine_calls) == 1
    twilio.send("申请")  # a new MessageSid with the same words is a new message
    assert len(engine_calls) == 2
    with sms_runtime.db.session() as s:  # the stored reply is encrypted at rest
        stored = s.execute(select(ProcessedMessage.reply)).scalars().all()
    assert stored and all("同意" not in json.dumps(r, ensure_ascii=False) for r in stored)


# ---- STOP / START / HELP -------------------------------------------------------------------


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop! ", "ｓｔｏｐ", "退订", "退订。", "TD", "T", "R", "r",
                                  "取消订阅", "不要再发", "不要再发了！", "拒收"])
def test_stop_confirms_once_then_the_number_receives_nothing(twilio, sms_runtime, engine_calls, word):
    assert twilio.send(word) == [sms_runtime.kb.message("sms_stop_confirm", "sms")]
    assert is_stopped(sms_runtime, "sms", PHONE)
    assert is_stopped(sms_runtime, "sms", "138 0000 0001")  # the same number as a lead would hold it
    for later in ("低保标准是多少", "M", "", "STOP", "T"):
        assert twilio.send(later) == []
    assert twilio.send("", NumMedia="1", MediaContentType0="image/png") == []
    assert not engine_calls
    assert not is_stopped(sms_runtime, "sms", "+8613900000002")  # others are unaffected


@pytest.mark.parametrize("word", ["HELP", "帮助"])
def test_an_opted_out_number_still_gets_the_answer_to_its_own_help(twilio, sms_runtime, engine_calls, word):
    twilio.send("T")  # as carriers ask: 回T退订
    (text,) = twilio.send(word)
    assert text == sms_runtime.kb.message("sms_help_stopped", "sms")
    assert "订阅" in text and sms_runtime.config.county.hotlines.assistance in text
    assert is_stopped(sms_runtime, "sms", PHONE) and not engine_calls  # asking for help is no opt-in


@pytest.mark.parametrize("word", ["START", "start", "订阅", "开始订阅"])
def test_start_resubscribes_and_the_bot_answers_again(twilio, sms_runtime, word):
    twilio.send("退订")
    assert twilio.send(word) == [sms_runtime.kb.message("sms_start_confirm", "sms")]
    assert not is_stopped(sms_runtime, "sms", PHONE)
    assert "900" in twilio.send("低保标准是多少")[0]


@pytest.mark.parametrize("word", ["HELP", "help", "帮助", "菜单", "?", "？"])
def test_help_says_what_the_bot_does_and_the_hotline(twilio, sms_runtime, engine_calls, word):
    (text,) = twilio.send(word)
    assert text == sms_runtime.kb.message("sms_help", "sms")
    assert sms_runtime.config.county.hotlines.assistance in text and "12349" in text
    assert not engine_calls


def test_sms_texts_fit_two_segments(shared_runtime):
    for key in ("sms_more_suffix", "sms_no_more", "sms_stop_confirm", "sms_start_confirm", "sms_help",
                "sms_help_stopped", "media_not_supported_sms"):
        text = shared_runtime.kb.message(key, "sms")
        assert text and "{" not in text and segments(text) <= 2, key
    assert shared_runtime.kb.message("sms_more_suffix", "sms") == SUFFIX


# ---- paging --------------------------------------------------------------------------------


def test_a_long_answer_is_paged_and_m_returns_the_next_page(twilio, sms_runtime):
    twilio.send("申请")  # the consent question
    (first,) = twilio.send("为什么要身份证号")  # why the data is needed, then the consent question: > 134
    assert ucs2_len(first) <= LIMIT and first.endswith(SUFFIX)
    assert "同意吗" not in first  # the explanation comes first, then the question again
    with sms_runtime.db.session() as s:  # waiting pages are encrypted in the conversation row
        states = s.execute(select(Conversation.state).where(Conversation.channel == "sms")).scalars().all()
    assert all("同意" not in json.dumps(state, ensure_ascii=False) for state in states)
    pages = [first]
    for _ in range(5):
        (page,) = twilio.send("M")
        if page == sms_runtime.kb.message("sms_no_more", "sms"):
            break
        assert ucs2_len(page) <= LIMIT
        pages.append(page)
    assert len(pages) >= 2
    assert all(p.endswith(SUFFIX) for p in pages[:-1]) and not pages[-1].endswith(SUFFIX)
    assert "同意吗" in pages[-1] and "回复1同意" in pages[-1]
    assert "您想申请哪一项帮助" in twilio.send("1")[0]  # paging did not disturb the screening


@pytest.mark.parametrize("more", ["m", "更多", "Ｍ"])
def test_other_more_words_and_a_new_message_discards_waiting_pages(twilio, sms_runtime, more):
    no_more = sms_runtime.kb.message("sms_no_more", "sms")
    twilio.send("申请")
    assert twilio.send("为什么要身份证号")[0].endswith(SUFFIX)
    assert twilio.send(more)[0] != no_more
    twilio.send("申请")
    twilio.send("为什么要身份证号")
    twilio.send("帮助")  # a new message: the waiting pages are dropped
    assert twilio.send(more) == [no_more]


def test_segment_count_is_logged_without_the_number_or_text(twilio, caplog):
    caplog.set_level(logging.INFO, logger="handlers.sms")
    twilio.send("申请")
    lines = [r.getMessage() for r in caplog.records if r.name == "handlers.sms"]
    assert any("2 segment(s)" in line and MASKED in line for line in lines), lines
    assert "13800000001" not in caplog.text
    assert "同意" not in caplog.text and "申请" not in caplog.text


def test_engine_replies_longer_than_a_page_are_always_paged(twilio, sms_runtime, monkeypatch):
    long = "\n".join(f"{i}. 这是一条比较长的说明文字，用来检查分页是否在换行处切开。" for i in range(1, 9))
    monkeypatch.setattr(sms_runtime.engine, "route_limited", lambda turn: Reply(messages=[long]))
    pages = twilio.send("随便问问")
    while not pages[-1] == sms_runtime.kb.message("sms_no_more", "sms"):
        pages += twilio.send("M")
    pages.pop()
    assert all(ucs2_len(p) <= LIMIT for p in pages)
    assert "\n".join(p.removesuffix(SUFFIX) for p in pages) == long  # cut only at line ends


# ---- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, count", [
    ("", 0), ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("{" * 80, 1), ("{" * 81, 2),           # GSM-7 escapes count twice
    ("a`", 1), ("`" * 71, 2),               # a backtick is not GSM-7: UCS-2
    ("中" * 70, 1), ("中" * 71, 2), ("中" * 134, 2), ("中" * 135, 3),
    ("😀" * 35, 1), ("😀" * 36, 2),          # an emoji is two UCS-2 units
])
def test_segments(text, count):
    assert segments(text) == count


@pytest.mark.parametrize("body, word", [(" stop ", "STOP"), ("退订。", "退订"), ("？", "?"), ("??", "?"),
                                        ("帮助?", "帮助"), ("ｍ", "M"), ("低保标准是多少", "低保标准是多少")])
def test_keyword_of(body, word):
    assert keyword_of(body) == word


_TEXT = st.text(alphabet=st.sampled_from(list("低保标准申请救助，。！\n 1a😀")), max_size=700)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_paginate_keeps_every_character_and_every_page_fits(text):
    pages = paginate(text, LIMIT, SUFFIX)
    assert all(ucs2_len(p) <= LIMIT for p in pages)
    assert all(p.endswith(SUFFIX) for p in pages[:-1])
    assert not pages[-1].endswith(SUFFIX) or text.strip().endswith(SUFFIX)
    joined = "".join(p.removesuffix(SUFFIX) for p in pages[:-1]) + pages[-1]
    assert "".join(joined.split()) == "".join(text.split())
