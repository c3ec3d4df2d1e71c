"""The /wechat callback, driven with payloads built, signed and encrypted as WeChat builds them."""
from __future__ import annotations

import logging
import threading
import time
import urllib.parse

import pytest
import xmltodict
from hypothesis import given
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto

from bot.config import load_config
from bot.runtime import Runtime
from bot.errors import ConfigError
from bot.messages import Reply
from handlers.wechat_wire import MAX_TEXT_BYTES
from web.app import create_app
from tests.conftest import ROOT
from tests.handlers.conftest import (AES_KEY, APP_ID, APP_SECRET, OPENID, TOKEN, FakeWeChat, make_runtime,
                                     wechat_environ)


def count_engine_calls(monkeypatch, runtime) -> list[str]:
    """Record every text the engine is asked to handle (routed on a conversation's state)."""
    calls: list[str] = []
    real = runtime.engine._route

    def route(message, cid, state):
        calls.append(message.text)
        return real(message, cid, state)

    monkeypatch.setattr(runtime.engine, "_route", route)
    return calls


def greeting_answer(runtime) -> str:
    return next(e for e in runtime.kb.entries if e.topic == "meta.greeting").answer_for("wechat")


# ---- URL verification -----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["wechat", "safe_wechat"])
def test_get_verification_echoes_echostr(request, mode):
    wechat = request.getfixturevalue(mode)  # an Official Account's URL check is plain in safe mode too
    response = wechat.client.get("/wechat?" + urllib.parse.urlencode(wechat.query(echostr="8127349870")))
    assert (response.status_code, response.data) == (200, b"8127349870")


@pytest.mark.parametrize("change", [{"signature": "0" * 40}, {"token": "not-our-token"},
                                    {"timestamp": 1_000_000_000}, {"drop": "signature"}])
def test_get_verification_refuses_a_bad_request(wechat, change):
    query = wechat.query(timestamp=change.get("timestamp"), token=change.get("token", TOKEN), echostr="42")
    query.update({k: v for k, v in change.items() if k == "signature"})
    query.pop(change.get("drop", ""), None)
    response = wechat.client.get("/wechat?" + urllib.parse.urlencode(query))
    assert response.status_code == 403
    assert b"42" not in response.data


# ---- answering -----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["wechat", "safe_wechat", "compatible_wechat"])
def test_policy_question_is_answered(request, mode):
    client: FakeWeChat = request.getfixturevalue(mode)
    answer = client.text("低保标准是多少")
    assert "900" in answer and "720" in answer
    assert len(answer.encode("utf-8")) <= MAX_TEXT_BYTES


def test_safe_mode_reply_is_encrypted(safe_wechat):
    response = safe_wechat.post(safe_wechat.message_xml("text", msg_id=1, Content="低保标准是多少"))
    body = response.get_data(as_text=True)
    answer = safe_wechat.reply_of(response)
    assert "900" in answer and "<Encrypt>" in body
    # nothing of the answer travels in clear (digits could match the envelope's timestamp)
    assert not any(line.strip() and line.strip() in body for line in answer.splitlines() if len(line.strip()) > 3)
    assert "低保" not in body


def test_several_engine_messages_are_joined_by_a_blank_line(wechat):
    answer = wechat.text("低保是什么")
    first, second = answer.split("\n\n", 1)
    assert "最低生活保障" in first and "申请" in second


@pytest.mark.parametrize("recognition, expected", [("低保标准是多少", "900"), ("", "没听清")])
def test_voice_uses_wechat_recognition(wechat, recognition, expected):
    reply = wechat.send("voice", MediaId="media-1", Format="amr", Recognition=recognition)
    assert expected in reply


def test_voice_without_recognition_asks_to_type_or_call(wechat):
    reply = wechat.send("voice", MediaId="media-1", Format="amr")
    assert reply == wechat.runtime.kb.message("voice_unrecognised", "wechat")
    assert "12349" in reply


def test_subscribe_gets_the_welcome_and_the_menu(wechat):
    reply = wechat.send("event", Event="subscribe", EventKey="")
    assert reply.startswith(wechat.runtime.kb.message("welcome", "wechat"))
    assert greeting_answer(wechat.runtime) in reply


def test_subscribe_through_a_qr_code_gets_the_welcome_too(wechat):
    reply = wechat.send("event", Event="subscribe", EventKey="qrscene_123", Ticket="t")
    assert greeting_answer(wechat.runtime) in reply


def test_unsubscribe_gets_an_empty_reply(wechat, monkeypatch):
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    assert wechat.send("event", Event="unsubscribe") == ""
    assert calls == []


def test_menu_click_apply_starts_the_screening(wechat, monkeypatch):
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    reply = wechat.send("event", Event="CLICK", EventKey="APPLY")
    assert calls == ["申请"]
    assert "同意" in reply


@pytest.mark.parametrize("key, topic_word", [("DIBAO", "最低生活保障"), ("PROGRESS", "申请")])
def test_other_menu_clicks_map_to_their_text(wechat, key, topic_word):
    assert topic_word in wechat.send("event", Event="CLICK", EventKey=key)


def test_unknown_menu_key_shows_what_the_bot_does(wechat):
    assert wechat.send("event", Event="CLICK", EventKey="NO_SUCH_KEY") == greeting_answer(wechat.runtime)


@pytest.mark.parametrize("kind, fields", [
    ("image", {"PicUrl": "http://mmbiz.qpic.cn/x", "MediaId": "m1"}),
    ("location", {"Location_X": "26.3", "Location_Y": "115.3", "Scale": "15", "Label": "兴国县"}),
    ("video", {"MediaId": "m2", "ThumbMediaId": "t2"}),
    ("shortvideo", {"MediaId": "m3", "ThumbMediaId": "t3"}),
    ("link", {"Title": "标题", "Description": "d", "Url": "http://example.invalid/"}),
])
def test_media_gets_a_polite_reply(wechat, kind, fields):
    reply = wechat.send(kind, **fields)
    assert reply == wechat.runtime.kb.message("media_not_supported", "wechat")
    assert "申请" in reply and "政策" in reply


@pytest.mark.parametrize("kind, fields", [("file", {"Title": "a.pdf"}), ("miniprogrampage", {}),
                                          ("event", {"Event": "VIEW", "EventKey": "https://x"}),
                                          ("event", {"Event": "TEMPLATESENDJOBFINISH"})])
def test_unknown_kinds_get_an_empty_success(wechat, kind, fields, monkeypatch):
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    response = wechat.post(wechat.message_xml(kind, msg_id=None if kind == "event" else 77, **fields))
    assert (response.status_code, response.data) == (200, b"success")
    assert calls == []


# ---- exactly once ----------------------------------------------------------------------
def test_a_retried_msgid_runs_the_conversation_once(wechat, monkeypatch):
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    first = wechat.text("申请", msg_id=5001)
    assert "同意" in first
    assert wechat.text("申请", msg_id=5001) == first          # WeChat's retry: the stored reply
    consent = wechat.text("同意", msg_id=5002)
    assert wechat.text("同意", msg_id=5002) == consent
    assert calls == ["申请", "同意"]                          # each message reached the engine once
    # A resident who sent each message once is in exactly the same place.
    other = "oJZ_test_resident_0002"
    assert wechat.text("申请", openid=other) == first
    assert wechat.text("同意", openid=other) == consent
    assert consent != first and "您同意吗" not in consent      # consent was not asked again
    assert wechat.text("低保", openid=other) == wechat.text("低保")


def test_a_retry_while_the_first_is_still_working_gets_success(wechat, monkeypatch):
    _claimed_elsewhere(wechat.runtime, "m:5100")  # another process is on it
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    response = wechat.post(wechat.message_xml("text", msg_id=5100, Content="低保标准是多少"))
    assert response.data == b"success"
    assert calls == []


def _claimed_elsewhere(runtime, message_id: str, seconds: float = 60) -> None:
    """A claim row as a delivery still at work on another server process leaves it."""
    import datetime as dt

    from bot.storage.models import ProcessedMessage, utcnow
    with runtime.db.unit_of_work() as s:
        s.add(ProcessedMessage(channel="wechat", message_id=message_id, owner="elsewhere",
                               lease_until=utcnow() + dt.timedelta(seconds=seconds)))


def test_a_retried_event_runs_once(wechat, monkeypatch):
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    xml = wechat.message_xml("event", created=1_767_000_000, Event="CLICK", EventKey="APPLY")
    first = wechat.reply_of(wechat.post(xml))
    assert wechat.reply_of(wechat.post(xml)) == first
    assert calls == ["申请"]


def test_safe_mode_retry_is_encrypted_afresh(safe_wechat):
    first = safe_wechat.text("低保标准是多少", msg_id=6001)
    assert safe_wechat.text("低保标准是多少", msg_id=6001) == first


# ---- verification before parsing ---------------------------------------------------------
def test_bad_signature_is_403_and_one_quiet_log_line(wechat, caplog, monkeypatch):
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    query = wechat.query()
    query["signature"] = "f" * 40
    with caplog.at_level(logging.INFO):
        response = wechat.post(wechat.message_xml("text", msg_id=1, Content="低保标准是多少"), query=query)
    assert response.status_code == 403
    assert calls == []
    records = [r for r in caplog.records if r.name.startswith("handlers")]
    assert len(records) == 1 and records[0].exc_info is None
    logged = records[0].getMessage()
    assert "signature" in logged
    for secret in (OPENID, query["nonce"], query["timestamp"], "低保", TOKEN):
        assert secret not in logged


@pytest.mark.parametrize("tamper", ["signature", "body"])
def test_safe_mode_bad_msg_signature_is_403(safe_wechat, monkeypatch, tamper):
    calls = count_engine_calls(monkeypatch, safe_wechat.runtime)
    query = safe_wechat.query()
    xml = safe_wechat.message_xml("text", msg_id=1, Content="低保")
    envelope = xmltodict.parse(safe_wechat.crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
    encrypt, msg_signature = envelope["Encrypt"], envelope["MsgSignature"]
    if tamper == "signature":
        msg_signature = "0" * 40
    else:  # a different (validly encrypted) body under the original signature
        encrypt = xmltodict.parse(safe_wechat.crypto.encrypt_message(
            xml.replace("低保", "特困"), query["nonce"], query["timestamp"]))["xml"]["Encrypt"]
    query.update(openid=OPENID, encrypt_type="aes", msg_signature=msg_signature)
    body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    response = safe_wechat.client.post("/wechat?" + urllib.parse.urlencode(query), data=body)
    assert response.status_code == 403
    assert calls == []


@pytest.mark.parametrize("other", ["app_id", "aes_key"])
def test_a_signed_message_for_another_account_or_key_is_400(safe_wechat, monkeypatch, caplog, other):
    """Correctly signed (the token matches) but encrypted for another AppID, or with another key."""
    calls = count_engine_calls(monkeypatch, safe_wechat.runtime)
    app_id, aes_key = "wx_another_account", "b" * 43
    safe_wechat.crypto = WeChatCrypto(TOKEN, aes_key if other == "aes_key" else AES_KEY,
                                      app_id if other == "app_id" else APP_ID)
    response = safe_wechat.post(safe_wechat.message_xml("text", msg_id=1, Content="低保"))
    assert response.status_code == 400
    assert calls == []
    assert "could not be decrypted" in caplog.text


def test_safe_mode_refuses_plaintext(safe_wechat):
    xml = safe_wechat.message_xml("text", msg_id=1, Content="低保")
    response = safe_wechat.client.post("/wechat?" + urllib.parse.urlencode(safe_wechat.query()), data=xml)
    assert response.status_code == 403


@pytest.mark.parametrize("age", [-3600, 3600])
def test_timestamp_outside_the_window_is_403(wechat, age):
    query = wechat.query(timestamp=int(time.time()) + age)  # correctly signed, but stale / future
    response = wechat.post(wechat.message_xml("text", msg_id=1, Content="低保"), query=query)
    assert response.status_code == 403


@pytest.mark.parametrize("xml", [
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol "lol">]><xml><ToUserName>&lol;</ToUserName></xml>',
    '<!doctype xml SYSTEM "file:///etc/passwd"><xml/>',
    '<xml><!ENTITY x "y"></xml>',
    "<!DOCTYPE xml>" + FakeWeChat.message_xml("text", msg_id=1, Content="低保"),  # valid apart from the DTD
])
def test_dtd_and_entity_declarations_are_400(wechat, xml, monkeypatch):
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    assert wechat.post(xml).status_code == 400
    assert calls == []


def test_entity_inside_the_encrypted_body_is_400(safe_wechat):
    xml = '<!DOCTYPE xml [<!ENTITY a "b">]><xml><MsgType>text</MsgType></xml>'
    assert safe_wechat.post(xml).status_code == 400


def test_oversized_body_is_413(wechat, monkeypatch):
    calls = count_engine_calls(monkeypatch, wechat.runtime)
    limit = wechat.runtime.config.wechat.max_body_bytes
    xml = wechat.message_xml("text", msg_id=1, Content="低" * (limit // 3 + 10))
    assert wechat.post(xml).status_code == 413
    assert calls == []


@pytest.mark.parametrize("xml", [
    "<xml><ToUserName><![CDATA[gh]]></ToUserName><MsgType>text",     # truncated
    "not xml at all",
    "",
    "<xml><MsgType>text</MsgType></xml>",                             # no sender
    "<root><MsgType>text</MsgType></root>",                           # not WeChat's root
    "<xml>just text</xml>",
    FakeWeChat.message_xml("text", msg_id=1, Content="x").replace("<MsgType><![CDATA[text]]></MsgType>", ""),
])
def test_malformed_xml_is_400(wechat, xml):
    assert wechat.post(xml).status_code == 400


def test_not_utf8_is_400(wechat):
    query = urllib.parse.urlencode(wechat.query())
    body = FakeWeChat.message_xml("text", msg_id=1, Content="低保").encode("utf-16")
    assert wechat.client.post("/wechat?" + query, data=body).status_code == 400


# ---- reply format -------------------------------------------------------------------------
def test_long_and_tricky_replies_fit_wechat(wechat, monkeypatch):
    line = "低保标准每人每月900元，以县民政局公布为准。"
    text = "\n".join(f"{i}. {line}" for i in range(200)) + "\n名字]]>后面\x07"
    monkeypatch.setattr(wechat.runtime.engine, "_route", lambda message, cid, state: Reply(messages=[text]))
    reply = wechat.text("随便问")
    assert len(reply.encode("utf-8")) <= MAX_TEXT_BYTES
    assert reply.endswith(wechat.runtime.kb.message("reply_continues", "wechat"))
    body, _ = reply.rsplit("\n", 1)
    assert all(row.endswith("为准。") for row in body.split("\n"))  # cut at a line boundary
    # the rest waits in the outbox, in order, for the customer-service API — nothing lost
    sent = [row for row in _queued_texts(wechat.runtime)]
    rows_text = "\n".join([body, *sent])
    assert rows_text.count("为准。") == 200 and "名字]]>后面" in rows_text

    monkeypatch.setattr(wechat.runtime.engine, "_route",
                        lambda message, cid, state: Reply(messages=["名字]]>后面\x07"]))
    assert wechat.text("再问") == "名字]]>后面"                    # CDATA-safe, control chars dropped


def test_a_handler_bug_gets_an_apology_not_a_traceback(wechat, monkeypatch, caplog):
    def broken(message, cid, state):
        raise RuntimeError("boom 13800000000")

    monkeypatch.setattr(wechat.runtime.engine, "_route", broken)
    with caplog.at_level(logging.ERROR):
        reply = wechat.text("低保")
    assert reply == wechat.runtime.kb.message("generic_apology", "wechat")
    assert "boom" not in reply


# ---- configuration ----------------------------------------------------------------------
def test_without_a_token_wechat_answers_503(runtime):
    app = create_app(runtime)
    client = FakeWeChat(app, runtime)
    assert client.post(client.message_xml("text", msg_id=1, Content="低保")).status_code == 503


def test_a_bad_aes_key_stops_start_up(sqlite_url, shared_runtime):
    env = wechat_environ(sqlite_url, safe=True) | {"JIUZHU_WECHAT_AES_KEY": "too-short"}
    with pytest.raises(ConfigError, match="JIUZHU_WECHAT_AES_KEY"):
        create_app(make_runtime(env, shared_runtime))


# ---- `jiuzhu wechat menu` -----------------------------------------------------------------
def test_menu_command_publishes_the_configured_menu_and_reuses_the_token(cli, tmp_path, fake_wechat_api):
    config = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert 'api_base = "https://api.weixin.qq.com"' in text
    config.write_text(text.replace('api_base = "https://api.weixin.qq.com"',
                                   f'api_base = "{fake_wechat_api.url}"'), encoding="utf-8")
    env = {"JIUZHU_WECHAT_APP_ID": APP_ID, "JIUZHU_WECHAT_APP_SECRET": APP_SECRET}

    first = cli("wechat", "menu", "--config", str(config), env=env)
    second = cli("wechat", "menu", "--config", str(config), env=env)  # another process

    assert "menu published" in first.stdout and "menu published" in second.stdout
    menus = [(q, body) for path, q, body in fake_wechat_api.requests if path == "/cgi-bin/menu/create"]
    assert len(menus) == 2
    assert len(fake_wechat_api.token_requests()) == 1            # the stored token was reused
    assert menus[0][0] == menus[1][0] == {"access_token": "ACCESS-1"}
    menu = menus[0][1]
    assert [b["name"] for b in menu["button"]] == ["政策问答", "申请预审", "查进度"]
    policy = menu["button"][0]["sub_button"]
    assert [(b["type"], b["name"]) for b in policy] == [
        ("click", "低保"), ("click", "特困供养"), ("click", "临时救助"), ("click", "医疗救助"),
        ("click", "订阅政策消息")]
    assert menu["button"][1] == {"type": "click", "name": "申请预审", "key": "APPLY"}
    assert menu["button"][2] == {"type": "click", "name": "查进度", "key": "PROGRESS"}
    assert all("text" not in b for b in policy)                   # our own mapping stays local
    assert APP_SECRET not in first.stdout + first.stderr + second.stdout + second.stderr


def _queued_texts(runtime) -> list[str]:
    """Decrypted bodies of queued WeChat customer-service messages, in order."""
    from sqlalchemy import select

    from bot.storage.models import OutboxMessage
    with runtime.db.session() as session:
        rows = session.execute(select(OutboxMessage).where(OutboxMessage.channel == "wechat")
                               .order_by(OutboxMessage.id)).scalars().all()
        return [runtime.protector.decrypt(r.body) for r in rows]


def _slow_route(wechat, monkeypatch, release) -> None:
    """The engine works out "迟到的答复" only once `release` is set."""
    def slow(message, cid, state):
        release.wait(10)
        return Reply(messages=["迟到的答复"])
    monkeypatch.setattr(wechat.runtime.engine, "_route", slow)


def _budget(wechat, **changes) -> None:
    import dataclasses
    settings = wechat.app.extensions["jiuzhu.wechat"]
    wechat.app.extensions["jiuzhu.wechat"] = dataclasses.replace(settings, **changes)


def _wait_for_queue(runtime, n: int = 1) -> list[str]:
    for _ in range(100):
        if len(_queued_texts(runtime)) >= n:
            break
        threading.Event().wait(0.05)
    return _queued_texts(runtime)


def test_a_slow_answer_is_sent_later_as_a_customer_service_message(wechat, monkeypatch):
    release = threading.Event()
    _slow_route(wechat, monkeypatch, release)
    _budget(wechat, budget=0.2)
    threading.Timer(0.5, release.set).start()
    assert wechat.text("低保标准是多少") == ""      # too late for WeChat: "success", and …
    assert _queued_texts(wechat.runtime) == ["迟到的答复"]  # … the answer as a customer-service message


def test_every_message_is_answered_on_the_request_thread(wechat, monkeypatch):
    threads = []
    real = wechat.runtime.engine._route

    def route(message, cid, state):
        threads.append(threading.current_thread().name)
        return real(message, cid, state)
    monkeypatch.setattr(wechat.runtime.engine, "_route", route)
    assert "900" in wechat.text("低保标准是多少")
    assert "900" in wechat.text("低保标准是多少")
    assert set(threads) == {threading.current_thread().name}


def test_a_retry_while_the_first_delivery_is_still_worked_on_gets_the_answer_sent_once(wechat, monkeypatch):
    """WeChat retries after 5 s, having dropped the first connection: that reply would be lost."""
    release = threading.Event()
    _slow_route(wechat, monkeypatch, release)
    first: list[str] = []
    worker = threading.Thread(target=lambda: first.append(wechat.text("低保标准是多少", msg_id=7400001)))
    worker.start()
    threading.Event().wait(0.3)                     # the first delivery is being worked on
    assert wechat.text("低保标准是多少", msg_id=7400001) == ""  # the retry: "success", and nothing runs twice
    release.set()
    worker.join(10)
    assert first == [""]                            # nobody reads the first delivery's reply any more …
    assert _queued_texts(wechat.runtime) == ["迟到的答复"]  # … so it goes as a customer-service message
    assert wechat.text("低保标准是多少", msg_id=7400001) == ""  # a later retry: nothing more
    assert _queued_texts(wechat.runtime) == ["迟到的答复"]


@pytest.mark.parametrize("value", [0, -1, 5, "soon"])
def test_a_bad_reply_budget_stops_the_app_at_start(wechat_runtime, value):
    with pytest.raises(ConfigError, match="wechat.reply_budget_seconds"):
        config = load_config(wechat_runtime.config.path, environ={"JIUZHU_DATABASE_URL": "sqlite://"},
                             overrides={"wechat.reply_budget_seconds": value})
        create_app(Runtime(config, kb=wechat_runtime.kb, matcher=wechat_runtime.matcher))


def test_a_database_that_fails_gets_a_polite_text_not_a_500(wechat, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def failing(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))
    monkeypatch.setattr(wechat.runtime.db.engine, "raw_connection", failing)
    wechat.app.testing = False  # answer as in production
    response = wechat.post(wechat.message_xml("text", msg_id=7700001, Content="低保标准是多少"))
    assert response.status_code == 200
    assert wechat.reply_of(response) == wechat.runtime.kb.message("generic_apology", "wechat")
    monkeypatch.undo()
    assert "900" in wechat.text("低保标准是多少", msg_id=7700001)  # nothing was recorded: the retry is answered


_CONTENT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@given(content=_CONTENT, kind=st.sampled_from(["text", "TEXT", " text ", "image", "event"]),
       extra=st.sampled_from(["", "<MsgDataId>7</MsgDataId><Idx>1</Idx>", "<Content>again</Content>",
                              "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl>", "<Event>subscribe</Event>",
                              "<Nested><A>1</A></Nested>", " stray text ", '<MsgId kind="x">1</MsgId>']),
       cdata=st.booleans())
def test_text_messages_parse_exactly_as_wechatpy_parses_them(content, kind, extra, cdata):
    """The ElementTree fast path for text messages gives wechatpy's own parse_message result."""
    from xml.sax.saxutils import escape

    from wechatpy import parse_message

    from handlers.wechat_wire import READ_FIELDS as _READ_FIELDS, parse as _parse

    body = f"<![CDATA[{content.replace(']]>', ']]]]><![CDATA[>')}]]>" if cdata else escape(content)
    xml = (f"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName>"
           f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
           f"<Content>{body}</Content><MsgId>6900000000000000001</MsgId>{extra}</xml>")
    try:
        expected = parse_message(xml)
    except Exception:  # noqa: BLE001 — what wechatpy cannot read, we refuse
        assert _parse(xml) is None
        return
    ours = _parse(xml)
    if any(expected._data.get(f) is not None and not isinstance(expected._data[f], str) for f in _READ_FIELDS):
        assert ours is None  # a field the bot reads that is not text (a nested or repeated element): refused
        return
    assert type(ours) is type(expected)
    assert ours._data == expected._data
    assert (ours.type, ours.source, ours.content if ours.type == "text" else None) == \
        (expected.type, expected.source, expected.content if expected.type == "text" else None)
