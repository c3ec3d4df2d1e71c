"""The WeChat Official Account callback at /wechat: verify, parse, answer exactly once.

Checks run in a fixed order, cheapest and safest first, before any XML is parsed: the
signature, the timestamp window, the body size, then DTDs are refused. Safe
mode (JIUZHU_WECHAT_AES_KEY set) also checks `msg_signature` over the
encrypted body and encrypts the reply. WeChat's wire format lives in
wechat_wire (XML, signatures, replies), what each kind of message gets in
wechat_kinds, the API calls in wechat_api: the engine gets an IncomingMessage.
"""
from __future__ import annotations

import binascii
import logging
import time
from xml.etree import ElementTree

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bot.dialogue.turns import Delivery, Outcome
from bot.errors import ConfigError, KnowledgeError
from bot.messages import IncomingMessage, Reply
from handlers.wechat_api import menu_of
from handlers.wechat_kinds import Act, Ask, handler_of
from handlers.wechat_wire import (CHANNEL, EMPTY, Settings, fresh, parse, raw_field, reply_xml, same, sign,
                                  split_all, split_text, xml_text)
from web.extensions import runtime_of

log = logging.getLogger(__name__)
blueprint = Blueprint("wechat", __name__)

MESSAGE_KEYS = ("welcome", "voice_unrecognised", "media_not_supported", "reply_continues")


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
        if not same(sign(settings.token, args.get("timestamp", ""), args.get("nonce", "")),
                     args.get("signature")):
            return _refuse("bad signature")
        if not fresh(args.get("timestamp"), settings.window):
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
    if (not crypto or "signature" in args) and not same(sign(settings.token, timestamp, nonce),
                                                         args.get("signature")):
        return _refuse("bad signature")
    if crypto and not args.get("msg_signature"):
        return _refuse("bad signature")
    if not fresh(timestamp, settings.window):
        return _refuse("timestamp outside the window")
    body = _read_body(settings.max_bytes)
    if body is None:
        log.warning("wechat: refused a request: body larger than %d bytes", settings.max_bytes)
        return _plain("too large", 413)
    xml = xml_text(body)
    if xml is None:
        return _bad_request("not UTF-8 XML without a DTD")
    if crypto:
        try:
            encrypt = ElementTree.fromstring(xml).findtext("Encrypt") or ""
        except ElementTree.ParseError:
            return _bad_request("malformed XML")
        if not encrypt or not same(sign(settings.token, timestamp, nonce, encrypt),
                                    args.get("msg_signature")):
            return _refuse("bad signature")
        try:  # (not crypto.decrypt_message: it would check the signature again, with !=)
            xml = xml_text(settings.cipher.decrypt(encrypt, settings.app_id).encode("utf-8"))
        except Exception:  # noqa: BLE001 — signed by WeChat yet undecryptable: a key/AppID mismatch
            log.warning("wechat: a signed message could not be decrypted (check the AES key and AppID)")
            return _bad_request("undecryptable")
        if xml is None:
            return _bad_request("decrypted message has a DTD")
    message = parse(xml)
    if message is None:
        if encrypted and not crypto:
            log.warning("wechat: an encrypted message arrived but JIUZHU_WECHAT_AES_KEY is not set")
        return _bad_request("malformed message XML")
    return _render(answer_once(message, settings), message, settings)


# ---- exactly once, within WeChat's deadline (the turn pipeline: bot/dialogue/turns.py) -----
def answer_once(message, settings: Settings) -> str:
    """The passive reply text ("" = "success"); a retry of the same message gets the first reply.

    Every message takes the same path, on the request thread: the turn pipeline claims
    the MsgId with the reply. A reply ready after `budget`, or one a retry gave up
    waiting for, goes out through the customer-service API (the outbox); a database
    that cannot be reached gets a polite text now and nothing recorded, so WeChat's
    retry after recovery is answered.
    """
    handler = handler_of(message)
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
    incoming = IncomingMessage(channel=CHANNEL, user_id=message.source, text=what.text if asks else "")
    note = runtime.kb.message("reply_continues", CHANNEL)
    parts: dict[str, tuple[str, str]] = {}

    def keep(reply: Reply) -> dict:
        # The reply may quote what the resident told us: kept encrypted, like the conversation.
        parts["cut"] = split_text(_joined(reply), note)
        return _sealed(runtime, parts["cut"][0])

    def send_later(session, reply: Reply) -> None:
        _enqueue(runtime, message, key or f"late:{time.time_ns()}", _joined(reply), session)

    work = runtime.engine.route_limited if asks else _fixed(what)
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


def _fixed(what: str | Act):
    """The turn's work for a reply that needs no conversation (an Act's change made first)."""
    def work(_turn) -> Reply:
        if isinstance(what, Act):
            what.change()
            return Reply().add(what.text)
        return Reply().add(what) if what else Reply()
    return work


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
    msg_id = raw_field(message, "MsgId")
    if msg_id:
        return f"m:{msg_id}"
    job = raw_field(message, "MsgID")  # MASSSENDJOBFINISH: jobs may finish in the same second
    if message.type == "event" and job:
        return f"e:{getattr(message, 'event', '')}:{job}"
    created = raw_field(message, "CreateTime")
    if message.type == "event" and created:
        return "e:" + runtime.protector.blind_index(
            "wechat-event", f"{message.source}|{created}|{getattr(message, 'event', '')}")
    return None


def _render(text: str, message, settings: Settings) -> Response:
    if not text:
        return _plain(EMPTY)
    return Response(reply_xml(text, message, settings), mimetype="application/xml")


def _read_body(limit: int) -> bytes | None:
    if request.content_length is not None and request.content_length > limit:
        return None
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return None
    return data if len(data) <= limit else None


def _refuse(reason: str) -> Response:
    """403 and one log line: the reason only, never request data."""
    log.warning("wechat: refused a request: %s", reason)
    return _plain("forbidden", 403)


def _bad_request(reason: str) -> Response:
    log.warning("wechat: bad request: %s", reason)
    return _plain("bad request", 400)


def _plain(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")
