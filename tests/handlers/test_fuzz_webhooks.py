"""Fuzzing both webhooks (hypothesis): whatever WeChat- or Twilio-shaped request arrives, correctly
signed or not, the answer is never a 5xx, never a traceback, and no exception is raised on the way.

The app runs as in production (testing off, so a bug would be a 500); a logging handler fails the
example on any record carrying an exception, so a crash hidden behind the polite apology is
caught too. Signatures are computed for the fuzzed request, so the parsers behind them are reached.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
import xmltodict
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from wechatpy.crypto import WeChatCrypto

from bot.config import load_config
from bot.runtime import Runtime
from handlers.wechat_wire import sign
from tests.conftest import ROOT
from tests.handlers.conftest import ACCOUNT, AES_KEY, APP_ID, TOKEN, wechat_environ
from web.app import create_app

TWILIO_TOKEN = "f3c1a9e2b7d44e8a9c0b5d6e7f8a9b0c"  # made up
PUBLIC_URL = "https://jiuzhu.example.gov.cn"
EXAMPLES = int(os.environ.get("JIUZHU_FUZZ_EXAMPLES", "200"))  # a deeper run: JIUZHU_FUZZ_EXAMPLES=20000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])

# Any text a phone or a hostile client can send: every plane, controls, combining marks, no surrogates.
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200)
WORDS = st.sampled_from(["低保", "申请", "同意", "1", "2", "退出", "STOP", "查进度", "留言", "360732197909152130",
                         "13970712468", "两千五", "]]>", "&amp;", "&#0;", "<![CDATA[", "\x00", "\ufeff", "𠀀"])
MESSAGE_TEXT = st.one_of(ANY_TEXT, st.lists(WORDS, max_size=6).map("".join))
# what XML can carry at all (no controls): deeper paths are reached than with ANY_TEXT alone
XML_TEXT = st.one_of(st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=200),
                     st.lists(WORDS.filter(lambda w: w not in ("\x00",)), max_size=6).map("".join), ANY_TEXT)
TAGS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "EventKey",
        "Recognition", "MediaId", "PicUrl", "Format", "Location_X", "Label", "Ticket", "MsgDataId", "Encrypt"]
MSG_TYPES = st.sampled_from(["text", "voice", "image", "event", "location", "link", "video", "shortvideo",
                             "file", "TEXT", "", "unknown"])
NUMBERS = st.one_of(st.integers(-2 ** 70, 2 ** 70).map(str), st.sampled_from(["", "NaN", "1e999", "0x10", " 7 "]))


class RaisedOnTheWay(logging.Handler):
    """Collects log records that carry an exception (a bug turned into an apology is still a bug)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture(scope="module")
def app_and_log(tmp_path_factory, shared_runtime):
    """Both channels configured, safe-mode WeChat in a second app; production error handling."""
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'jiuzhu.sqlite3'}"
    environ = {**wechat_environ(url), "JIUZHU_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "JIUZHU_PUBLIC_URL": PUBLIC_URL,
               "JIUZHU_TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "JIUZHU_TWILIO_FROM": "+15005550006"}
    overrides = {"rate_limit.messages_per_minute": 10 ** 6}
    plain = Runtime(load_config(ROOT / "config.toml", environ=environ, overrides=overrides),
                    kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    safe_url = url.replace("jiuzhu.sqlite3", "safe.sqlite3")
    safe = Runtime(load_config(ROOT / "config.toml", environ=wechat_environ(safe_url, safe=True), overrides=overrides),
                   kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    apps = {"plain": create_app(plain), "safe": create_app(safe)}
    for app in apps.values():
        app.testing = False  # a bug is a 500 page, as in production, never propagated to the test
    watcher = RaisedOnTheWay()
    logging.getLogger().addHandler(watcher)
    yield {name: app.test_client() for name, app in apps.items()}, watcher
    logging.getLogger().removeHandler(watcher)
    plain.db.dispose()
    safe.db.dispose()


def assert_no_crash(response, watcher: RaisedOnTheWay) -> None:
    """No 5xx, no traceback in the body, no exception logged while answering."""
    body = response.get_data()
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: which paths were reached
    assert response.status_code < 500, body[:300]
    assert b"Traceback" not in body and b'File "' not in body
    raised, watcher.records[:] = list(watcher.records), []
    assert not raised, [f"{r.name}: {r.getMessage()}" for r in raised]


def _element(draw) -> str:
    tag = draw(st.sampled_from(TAGS))
    if tag in ("CreateTime", "MsgId", "MsgDataId", "Location_X"):
        value = draw(NUMBERS)
    elif tag == "MsgType":
        value = draw(MSG_TYPES)
    else:
        value = draw(XML_TEXT)
    if draw(st.booleans()):
        inner = "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    else:
        inner = value.replace("&", "&amp;").replace("<", "&lt;")
    if draw(st.integers(0, 9)) == 0:
        inner = f"<{tag}>{inner}</{tag}>"  # nested
    return f"<{tag}>{inner}</{tag}>"


@st.composite
def wechat_xml(draw) -> str:
    """WeChat-shaped XML: the usual fields in any order, any values, duplicates, nesting, junk."""
    parts = [f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>",
             f"<FromUserName><![CDATA[{draw(st.sampled_from(['o_fuzz_1', 'o_fuzz_2', '', 'x' * 300]))}]]>"
             "</FromUserName>", f"<CreateTime>{int(time.time())}</CreateTime>",
             f"<MsgType><![CDATA[{draw(MSG_TYPES)}]]></MsgType>"]
    parts += [_element(draw) for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3, 6, 0])))]
    parts = draw(st.permutations(parts))
    xml = "<xml>" + "".join(parts) + "</xml>"
    mangle = draw(st.sampled_from(range(10)))
    if mangle == 0:
        xml = xml[: draw(st.integers(0, len(xml)))]  # cut short
    elif mangle == 1:
        xml = '<!DOCTYPE xml [<!ENTITY e "boom">]>' + xml.replace("</xml>", "&e;</xml>")
    elif mangle == 2:
        xml = "<?xml version='1.0' encoding='gbk'?>" + xml
    return xml


def _query(timestamp: str | None = None, nonce: str = "1") -> dict:
    timestamp = timestamp or str(int(time.time()))
    return {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, "openid": "o_fuzz"}


@FUZZ
@given(body=st.one_of(wechat_xml(), wechat_xml(), wechat_xml(), st.binary(max_size=600), ANY_TEXT.map(str.encode)))
# found by fuzzing: a nested element parsed to a dict, which the engine choked on
@example(body=f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName>"
              "<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><Content></Content></Content>"
              "</xml>")
def test_wechat_plaintext_bodies(app_and_log, body):
    clients, watcher = app_and_log
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    response = clients["plain"].post("/wechat?" + urllib.parse.urlencode(_query()), data=data,
                                     content_type="text/xml")
    assert_no_crash(response, watcher)
    if response.status_code == 200 and response.data != b"success":
        assert ET.fromstring(response.data).tag == "xml"  # a well-formed passive reply


@st.composite
def safe_mode_request(draw) -> dict:
    """What a safe-mode POST carries: a fuzzed message truly encrypted (maybe with one character of the
    ciphertext flipped, the signature still matching), or a fuzzed envelope; the signature right or not."""
    return {"nonce": str(draw(st.integers(0, 10 ** 9))), "inner": draw(st.sampled_from([True, True, False])) and draw(wechat_xml()) or None,
            "flip": draw(st.sampled_from([None, None, None, 0.0, 0.3, 0.99])), "encrypt": draw(st.one_of(ANY_TEXT, st.text(
                alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/=", max_size=400))),
            "signature": draw(st.sampled_from(["right", "right", "right", "zeros", "missing"]))}


def _safe_post(spec: dict) -> tuple[dict, bytes]:
    """The request of a safe_mode_request (encrypting here: wechatpy draws its padding at random)."""
    timestamp, nonce = str(int(time.time())), spec["nonce"]
    encrypt = spec["encrypt"]
    if spec["inner"] is not None:
        encrypted = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(spec["inner"], nonce, timestamp)
        encrypt = xmltodict.parse(encrypted)["xml"]["Encrypt"]
        if spec["flip"] is not None:
            i = int(spec["flip"] * (len(encrypt) - 1))
            encrypt = encrypt[:i] + ("A" if encrypt[i] != "A" else "B") + encrypt[i + 1:]
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce, encrypt])).encode("utf-8", "surrogatepass")
                             ).hexdigest()
    query = {"timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes", "openid": "o_fuzz",
             "msg_signature": {"right": signature, "zeros": "0" * 40, "missing": ""}[spec["signature"]],
             "signature": sign(TOKEN, timestamp, nonce)}
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return query, body.encode("utf-8", "surrogatepass")


@FUZZ
@given(spec=safe_mode_request())
def test_wechat_safe_mode_envelopes(app_and_log, spec):
    clients, watcher = app_and_log
    query, body = _safe_post(spec)
    response = clients["safe"].post("/wechat?" + urllib.parse.urlencode(query), data=body, content_type="text/xml")
    assert_no_crash(response, watcher)


QUERY_KEYS = st.sampled_from(["signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature",
                              "echostr", "x"])


@FUZZ
@given(method=st.sampled_from(["GET", "POST"]), which=st.sampled_from(["plain", "safe"]),
       query=st.dictionaries(QUERY_KEYS, ANY_TEXT, max_size=7), signed=st.booleans())
def test_wechat_query_strings(app_and_log, method, which, query, signed):
    clients, watcher = app_and_log
    if signed:  # a right signature over fuzzed timestamp and nonce: the later checks are reached
        query.setdefault("timestamp", str(int(time.time())))
        query["signature"] = sign(TOKEN, query.get("timestamp", ""), query.get("nonce", ""))
    path = "/wechat?" + urllib.parse.urlencode(query, encoding="utf-8", errors="surrogatepass")
    response = clients[which].open(path, method=method, data=b"<xml></xml>", content_type="text/xml")
    assert_no_crash(response, watcher)


TWILIO_KEYS = ["Body", "From", "To", "MessageSid", "SmsMessageSid", "NumMedia", "MediaUrl0", "MediaContentType0",
               "NumSegments", "AccountSid", "SmsStatus", "MessageStatus", "ErrorCode", "FromCountry", "ApiVersion"]
FROMS = st.one_of(st.from_regex(r"\+861[3-9][0-9]{9}", fullmatch=True), ANY_TEXT,
                  st.sampled_from(["", "+8613970712468", "13970712468", "+1", "++86", "+86" + "9" * 40]))


@st.composite
def twilio_form(draw) -> dict:
    """A Twilio-shaped form: the usual fields with fuzzed values, fields missing or extra."""
    form = {"MessageSid": "SM" + draw(st.text(alphabet="0123456789abcdef", min_size=0, max_size=34)),
            "From": draw(FROMS), "Body": draw(MESSAGE_TEXT), "NumMedia": draw(NUMBERS),
            "To": "+15005550006", "AccountSid": "AC" + "1" * 32}
    for key in draw(st.lists(st.sampled_from(TWILIO_KEYS), max_size=4)):
        form[key] = draw(ANY_TEXT)
    for key in draw(st.lists(st.sampled_from(list(form)), max_size=2)):
        form.pop(key, None)
    return form


@FUZZ
@given(form=twilio_form(), path=st.sampled_from(["/sms", "/sms/status"]),
       signed=st.sampled_from([True, True, True, False]))
def test_twilio_forms(app_and_log, form, path, signed):
    clients, watcher = app_and_log
    clean = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in form.items()}  # what a form can carry
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, clean) if signed else "forged"
    response = clients["plain"].post(path, data=clean, headers={"X-Twilio-Signature": signature})
    assert_no_crash(response, watcher)
    if path == "/sms" and response.status_code in (200, 400):
        assert ET.fromstring(response.data).tag == "Response"  # always TwiML Twilio can read


@FUZZ
@given(raw=st.binary(max_size=800), content_type=st.sampled_from(
    ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=gbk", "multipart/form-data",
     "text/plain", ""]))
def test_twilio_raw_bodies(app_and_log, raw, content_type):
    clients, watcher = app_and_log
    form = dict(urllib.parse.parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + "/sms", form)
    response = clients["plain"].post("/sms", data=raw, content_type=content_type,
                                     headers={"X-Twilio-Signature": signature})
    assert_no_crash(response, watcher)
