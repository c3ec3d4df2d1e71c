"""The WeChat Official Account callback at /wechat: verify, parse, answer exactly once.

Checks run in a fixed order, cheapest and safest first, before any XML is parsed: the
signature, the timestamp window, the body size, then DTDs are refused. Safe
mode (JIUZHU_WECHAT_AES_KEY set) also checks `msg_signature` over the
encrypted body and encrypts the reply. Only this module (and wechat_api)
knows WeChat's wire format: the engine gets an IncomingMessage.
"""
from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.messages import TextMessage
from wechatpy.replies import TextReply

from bot.dialogue.turns import Delivery, Outcome
from bot.errors import ConfigError, KnowledgeError
from bot.messages import IncomingMessage, Reply
from handlers.wechat_api import menu_of
from web.extensions import runtime_of

log = logging.getLogger(__name__)
blueprint = Blueprint("wechat", __name__)

CHANNEL = "wechat"
EMPTY = "success"           # WeChat shows nothing and does not retry
MAX_TEXT_BYTES = 2048       # WeChat's limit for a passive text reply
MESSAGE_KEYS = ("welcome", "voice_unrecognised", "media_not_supported", "reply_continues")
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Settings:
    """What the callback needs, validated once when the app is built."""

    token: str | None
    crypto: WeChatCrypto | None
    window: int
    max_bytes: int
    app_id: str | None = None
    # wechatpy's AES-CBC set up once: WeChatCrypto builds a new cipher for every message
    cipher: PrpCrypto | None = None
    click_texts: dict[str, str] = field(default_factory=dict)
    budget: float = 4.0           # WeChat waits 5 s: answer passively within this, else send later


@blueprint.record_once
def _configure(state) -> None:
    """Validate secrets, menu and texts at start-up, not when a resident writes."""
    runtime = runtime_of(state.app)
    secrets_, section = runtime.config.secrets, runtime.config.wechat
    token, aes_key, app_id = (secrets_.get(k) for k in ("wechat_token", "wechat_aes_key", "wechat_app_id"))
    crypto = None
    if aes_key:
        if not token or not app_id:
            raise ConfigError("JIUZHU_WECHAT_AES_KEY", "safe mode also needs JIUZHU_WECHAT_TOKEN "
                                                       "and JIUZHU_WECHAT_APP_ID")
        try:
            if len(aes_key) != 43:
                raise ValueError
            crypto = WeChatCrypto(token, aes_key, app_id)
        except (ValueError, binascii.Error, AssertionError):
            raise ConfigError("JIUZHU_WECHAT_AES_KEY", "must be the 43-character EncodingAESKey") from None
    missing = [f"messages.yaml: missing message {k!r}" for k in MESSAGE_KEYS if k not in runtime.kb.messages]
    if not any(e.topic == "meta.greeting" for e in runtime.kb.entries):
        missing.append("no entry with topic meta.greeting (the welcome menu)")
    if missing:
        raise KnowledgeError(missing)
    if not token:
        log.warning("JIUZHU_WECHAT_TOKEN is not set: /wechat answers 503")
    state.app.extensions["jiuzhu.wechat"] = Settings(
        token=token, crypto=crypto, app_id=app_id, cipher=PrpCrypto(crypto.key) if crypto else None,
        window=section.timestamp_window_seconds,
        max_bytes=section.max_body_bytes,
        click_texts=menu_of(section.menu)[1],
        budget=_budget(section.reply_budget_seconds))


def _budget(budget: float) -> float:
    """WeChat waits 5 s for a passive reply: the budget must end before that."""
    if not 0 < budget < 5:
        raise ConfigError("wechat.reply_budget_seconds", "must be a number of seconds above 0 and below 5")
    return budget


@blueprint.route("/wechat", methods=["GET", "POST"])
def callback() -> Response:
    """GET: WeChat's URL check (echo `echostr`); POST: one message, one passive reply."""
    settings: Settings = current_app.extensions["jiuzhu.wechat"]
    if not settings.token:
        return _plain("not configured", 503)
    args = request.args
    if request.method == "GET":
        if not _same(sign(settings.token, args.get("timestamp", ""), args.get("nonce", "")),
                     args.get("signature")):
            return _refuse("bad signature")
        if not _fresh(args.get("timestamp"), settings.window):
            return _refuse("timestamp outside the window")
        return _plain(args.get("echostr", ""))
    return _receive(settings, args)


def _receive(settings: Settings, args) -> Response:
    """Verify, decrypt and parse a POSTed message, then answer it."""
    crypto = settings.crypto
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    encrypted = args.get("encrypt_type", "raw").lower() == "aes"
    if crypto and not encrypted:
        return _refuse("plaintext message while safe mode is on")
    if (not crypto or "signature" in args) and not _same(sign(settings.token, timestamp, nonce),
                                                         args.get("signature")):
        return _refuse("bad signature")
    if crypto and not args.get("msg_signature"):
        return _refuse("bad signature")
    if not _fresh(timestamp, settings.window):
        return _refuse("timestamp outside the window")
    body = _read_body(settings.max_bytes)
    if body is None:
        log.warning("wechat: refused a request: body larger than %d bytes", settings.max_bytes)
        return _plain("too large", 413)
    xml = _xml_text(body)
    if xml is None:
        return _bad_request("not UTF-8 XML without a DTD")
    if crypto:
        try:
            encrypt = ElementTree.fromstring(xml).findtext("Encrypt") or ""
        except ElementTree.ParseError:
            return _bad_request("malformed XML")
        if not encrypt or not _same(sign(settings.token, timestamp, nonce, encrypt),
                                    args.get("msg_signature")):
            return _refuse("bad signature")
        try:  # (not crypto.decrypt_message: it would check the signature again, with !=)
            xml = _xml_text(settings.cipher.decrypt(encrypt, settings.app_id).encode("utf-8"))
        except Exception:  # noqa: BLE001 — signed by WeChat yet undecryptable: a key/AppID mismatch
            log.warning("wechat: a signed message could not be decrypted (check the AES key and AppID)")
            return _bad_request("undecryptable")
        if xml is None:
            return _bad_request("decrypted message has a DTD")
    message = _parse(xml)
    if message is None:
        if encrypted and not crypto:
            log.warning("wechat: an encrypted message arrived but JIUZHU_WECHAT_AES_KEY is not set")
        return _bad_request("malformed message XML")
    return _render(answer_once(message, settings), message, settings)


# ---- message kinds (a registry: one handler per kind) -------------------------------------------
@dataclass(frozen=True)
class Ask:
    """What a kind handler returns when the conversation engine answers: the resident's text."""

    text: str


Handler = Callable[[object, object, Settings], "str | Ask"]  # a fixed reply ("" = none), or Ask
MESSAGE_KINDS: dict[str, Handler] = {}
EVENT_KINDS: dict[str, Handler] = {}


def _kind(registry: dict[str, Handler], *names: str):
    def register(fn: Handler) -> Handler:
        for name in names:
            registry[name] = fn
        return fn
    return register


@_kind(MESSAGE_KINDS, "text")
def _on_text(message, runtime, settings) -> str | Ask:
    """A typed message goes to the conversation engine."""
    return Ask(message.content or "")


@_kind(MESSAGE_KINDS, "voice")
def _on_voice(message, runtime, settings) -> str | Ask:
    """WeChat's speech recognition, when it produced text; otherwise ask to type or call."""
    recognition = (message.recognition or "").strip()
    if recognition:
        return Ask(recognition)
    return runtime.kb.message("voice_unrecognised", CHANNEL)


@_kind(MESSAGE_KINDS, "image", "location", "video", "shortvideo", "link")
def _on_media(message, runtime, settings) -> str | Ask:
    """What we cannot read: say politely what the bot can do."""
    return runtime.kb.message("media_not_supported", CHANNEL)


@_kind(EVENT_KINDS, "subscribe", "subscribe_scan")
def _on_subscribe(message, runtime, settings) -> str | Ask:
    """A new follower gets the welcome and the menu of what the bot does."""
    return "\n\n".join((runtime.kb.message("welcome", CHANNEL), _greeting(runtime)))


@_kind(EVENT_KINDS, "unsubscribe")
def _on_unsubscribe(message, runtime, settings) -> str | Ask:
    """Nobody reads a reply to an unfollow."""
    return ""


@_kind(EVENT_KINDS, "click")
def _on_click(message, runtime, settings) -> str | Ask:
    """A menu click is answered as if the resident had typed the button's text."""
    text = settings.click_texts.get(message.key or "")
    return Ask(text) if text else _greeting(runtime)


def _greeting(runtime) -> str:
    entry = next(e for e in runtime.kb.entries if e.topic == "meta.greeting")
    return entry.answer_for(CHANNEL)


def _handler_of(message) -> Handler | None:
    if message.type == "event":
        return EVENT_KINDS.get(getattr(message, "event", ""))
    return MESSAGE_KINDS.get(message.type)


# ---- exactly once, within WeChat's deadline (the turn pipeline: bot/dialogue/turns.py) -----
def answer_once(message, settings: Settings) -> str:
    """The passive reply text ("" = "success"); a retry of the same message gets the first reply.

    Every message takes the same path, on the request thread: the turn pipeline claims
    the MsgId with the reply. A reply ready after `budget`, or one a retry gave up
    waiting for, goes out through the customer-service API (the outbox); a database
    that cannot be reached gets a polite text now and nothing recorded, so WeChat's
    retry after recovery is answered.
    """
    handler = _handler_of(message)
    if handler is None:
        return ""  # unknown kinds and events: an empty "success", never a crash
    runtime = runtime_of()
    key = dedup_key(message, runtime)
    try:
        what = handler(message, runtime, settings)
    except Exception:  # noqa: BLE001 — a bug is logged and the resident gets an apology, never a trace
        log.exception("failed to answer a wechat %s message", message.type)
        what = runtime.kb.message("generic_apology", CHANNEL)
    asks = isinstance(what, Ask)
    incoming = IncomingMessage(channel=CHANNEL, user_id=message.source,
                               text=what.text if asks else "", message_id=_raw(message, "MsgId"))
    note = runtime.kb.message("reply_continues", CHANNEL)
    parts: dict[str, tuple[str, str]] = {}

    def keep(reply: Reply) -> dict:
        # The reply may quote what the resident told us: kept encrypted, like the conversation.
        parts["cut"] = split_text(_joined(reply), note)
        return _sealed(runtime, parts["cut"][0])

    def send_later(session, reply: Reply) -> None:
        _enqueue(runtime, message, key or f"late:{time.time_ns()}", _joined(reply), session)

    work = runtime.engine.route_limited if asks else (lambda _turn: Reply().add(what) if what else Reply())
    try:
        result = runtime.turns.handle(incoming, work, Delivery(
            claim=key or f"once:{time.time_ns()}", keep=keep, send_later=send_later,
            deadline=settings.budget, conversation=asks))
    except Exception:  # noqa: BLE001 — never a 500: WeChat would show the resident an error
        log.exception("wechat: the turn pipeline failed")
        return runtime.kb.message("generic_apology", CHANNEL)
    if result.outcome is Outcome.UNAVAILABLE:
        return runtime.kb.message("generic_apology", CHANNEL)
    if result.outcome is Outcome.REPLAYED:
        return _unseal(runtime, result.stored)
    if result.outcome is not Outcome.ANSWERED:
        return ""  # the delivery that holds the claim answers (IN_PROGRESS), or the outbox did (LATE)
    text, rest = parts.get("cut") or split_text(_joined(result.reply), note)
    if rest:
        _enqueue(runtime, message, key or f"long:{time.time_ns()}", rest)
    return text


def _joined(reply: Reply) -> str:
    """The engine's messages as one WeChat text, separated by a blank line."""
    return "\n\n".join(m for m in reply.messages if m)


def _sealed(runtime, text: str) -> dict:
    return {"sealed": runtime.protector.seal(text)}


def _enqueue(runtime, message, key: str, text: str, session=None) -> None:
    from bot.outbox import enqueue

    for i, part in enumerate(split_all(text)):
        enqueue(runtime, CHANNEL, message.source, part, idempotency_key=f"wechat:{key}:{i}", session=session)


def _unseal(runtime, stored: dict | None) -> str:
    """The stored first reply; nothing while it is being worked on (or if unreadable)."""
    try:
        return runtime.protector.unseal(stored["sealed"]) if stored else ""
    except (KeyError, TypeError, ValueError):
        log.warning("wechat: a stored reply could not be read; answering the retry with nothing")
        return ""


def dedup_key(message, runtime) -> str | None:
    """MsgId for messages; events have none, so a keyed hash of sender + time + event."""
    msg_id = _raw(message, "MsgId")
    if msg_id:
        return f"m:{msg_id}"
    created = _raw(message, "CreateTime")
    if message.type == "event" and created:
        return "e:" + runtime.protector.blind_index(
            "wechat-event", f"{message.source}|{created}|{getattr(message, 'event', '')}")
    return None


# ---- wire format -------------------------------------------------------------------------
def sign(token: str, *parts: str) -> str:
    """WeChat's signature: sha1 of the token and the parts, sorted and concatenated."""
    return hashlib.sha1("".join(sorted((token, *parts))).encode("utf-8")).hexdigest()


def split_text(text: str, note: str, limit: int = MAX_TEXT_BYTES) -> tuple[str, str]:
    """(what fits in one reply — with `note` when cut — , the rest), cut at lines."""
    text = _NOT_XML_CHARS.sub("", text)
    if len(text.encode("utf-8")) <= limit:
        return text, ""
    parts = split_all(text, limit - len(("\n" + note).encode("utf-8")))
    return f"{parts[0]}\n{note}", "\n".join(parts[1:])


def split_all(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Text cut into parts of at most `limit` bytes, at line ends where possible."""
    parts: list[str] = []
    current = ""
    for line in _NOT_XML_CHARS.sub("", text).split("\n"):
        while len(line.encode("utf-8")) > limit:  # one enormous line: cut on a character boundary
            cut = line.encode("utf-8")[:limit].decode("utf-8", "ignore")
            if current:
                parts.append(current)
                current = ""
            parts.append(cut)
            line = line[len(cut):]
        candidate = f"{current}\n{line}" if current else line
        if current and len(candidate.encode("utf-8")) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


def _render(text: str, message, settings: Settings) -> Response:
    if not text:
        return _plain(EMPTY)
    # CDATA cannot contain "]]>": split it across two sections.
    xml = TextReply(message=message, content=text.replace("]]>", "]]]]><![CDATA[>")).render()
    if settings.cipher is not None:
        xml = _encrypted(xml, settings)
    return Response(xml, mimetype="application/xml")


_ENVELOPE = """<xml>
<Encrypt><![CDATA[{encrypt}]]></Encrypt>
<MsgSignature><![CDATA[{signature}]]></MsgSignature>
<TimeStamp>{timestamp}</TimeStamp>
<Nonce><![CDATA[{nonce}]]></Nonce>
</xml>"""


def _encrypted(xml: str, settings: Settings) -> str:
    """The reply in safe mode: what WeChatCrypto.encrypt_message gives, with the process's
    cipher (wechatpy's PrpCrypto) instead of one built for every message — half the cost."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    encrypt = settings.cipher.encrypt(xml, settings.app_id).decode("ascii")
    return _ENVELOPE.format(encrypt=encrypt, signature=sign(settings.token, timestamp, nonce, encrypt),
                            timestamp=timestamp, nonce=nonce)


def _parse(xml: str):
    """A wechatpy message, or None for XML that is not a WeChat message."""
    try:
        message = _text_message(xml) or parse_message(xml)
    except (ExpatError, ElementTree.ParseError, KeyError, AttributeError, TypeError, ValueError):
        return None
    if message is None or not all(isinstance(_raw(message, f), str) and _raw(message, f)
                                  for f in ("FromUserName", "ToUserName")):
        return None
    # a field the bot reads must be text: <Content><Content/></Content> parses to a dict (found by fuzzing)
    if any(message._data.get(f) is not None and not isinstance(message._data[f], str)  # noqa: SLF001
           for f in _READ_FIELDS):
        return None
    return message


_READ_FIELDS = ("Content", "Recognition", "Event", "EventKey", "MsgType", "MsgId", "CreateTime")


_TEXT_FIELDS = frozenset(("ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId",
                          "MsgDataId", "Idx"))


def _text_message(xml: str) -> TextMessage | None:
    """A plain text message — most of what arrives — exactly as wechatpy's parse_message
    makes it, but read with ElementTree (C) instead of xmltodict (a Python call for every
    element and every piece of text; see bench/README.md). None for anything else
    (events, media, any unexpected shape), which parse_message reads.
    """
    root = ElementTree.fromstring(xml)
    if root.tag != "xml" or root.attrib or (root.text or "").strip():
        return None
    fields: dict[str, str | None] = {}
    for child in root:
        if child.tag not in _TEXT_FIELDS or child.tag in fields or len(child) or child.attrib \
                or (child.tail or "").strip():
            return None
        fields[child.tag] = (child.text or "").strip() or None  # xmltodict strips, and '' is None
    if (fields.get("MsgType") or "").lower() != "text":
        return None
    return TextMessage(fields)


def _raw(message, name: str) -> str | None:
    """A field exactly as sent (wechatpy's typed fields raise on odd values)."""
    value = message._data.get(name)  # noqa: SLF001 — wechatpy keeps the parsed dict here
    return value if isinstance(value, str) else None


def _xml_text(body: bytes) -> str | None:
    """The body as text, or None if it is not UTF-8 or declares a DTD (entity expansion)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lowered = text.lower()
    return None if "<!doctype" in lowered or "<!entity" in lowered else text


def _read_body(limit: int) -> bytes | None:
    if request.content_length is not None and request.content_length > limit:
        return None
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return None
    return data if len(data) <= limit else None


def _same(expected: str, given: str | None) -> bool:
    """Constant-time comparison (wechatpy's check_signature uses !=)."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _fresh(timestamp: str | None, window: int) -> bool:
    try:
        return abs(time.time() - int(timestamp or "")) <= window
    except ValueError:
        return False


def _refuse(reason: str) -> Response:
    """403 and one log line: the reason only, never request data."""
    log.warning("wechat: refused a request: %s", reason)
    return _plain("forbidden", 403)


def _bad_request(reason: str) -> Response:
    log.warning("wechat: bad request: %s", reason)
    return _plain("bad request", 400)


def _plain(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")
