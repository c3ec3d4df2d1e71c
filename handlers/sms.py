"""The Twilio SMS webhooks: POST /sms (verify, de-duplicate, answer in TwiML) and
POST /sms/status (delivery reports of the messages `jiuzhu worker` sends).

Order of work for every request: signature header present, body size capped,
signature valid (against JIUZHU_PUBLIC_URL + /sms, never request.url, which is
wrong behind a TLS-terminating proxy), then the MessageSid claimed so a retry
gets the stored reply instead of running the conversation twice. Only then
are carrier keywords (STOP, START, HELP, M) and the conversation engine
consulted. Replies longer than two segments are split into pages; the rest
wait, encrypted, in the conversation state until the resident replies M.
Logs carry masked numbers and segment counts, never message text.
"""
from __future__ import annotations

import json
import logging
import re
import unicodedata

from flask import Blueprint, Response, request
from twilio.request_validator import (HMAC_SHA1, HMAC_SHA256, SIGNATURE_SETTINGS_HEADER,
                                      RequestValidator, get_signature_algorithm)
from twilio.twiml.messaging_response import MessagingResponse

from bot.dialogue.state import ConversationState
from bot.dialogue.turns import Delivery, Outcome, Turn
from bot.messages import IncomingMessage, Reply
from bot.outbox import enqueue, record_status
from bot.phones import to_e164
from bot.privacy import mask_phone
from bot import subscriptions
from bot.publicity import subscribe
from handlers.sms_text import STATUS_PATH, paginate, segments
from web.extensions import runtime_of

log = logging.getLogger(__name__)
blueprint = Blueprint("sms", __name__)

CHANNEL = "sms"
PATH = "/sms"

_KEYWORD_NOISE = re.compile(r"[\s.,!。，！、~～…]+")


@blueprint.post(PATH)
def incoming_sms():
    """Twilio's incoming-message webhook: a TwiML reply, or 403 when not signed by Twilio."""
    runtime = runtime_of()
    refusal = _refusal(runtime, PATH)
    if refusal is not None:
        return refusal

    number = to_e164(request.form.get("From", ""))
    sid = request.form.get("MessageSid") or request.form.get("SmsMessageSid") or ""
    if not number or not sid:
        log.warning("SMS webhook without From or MessageSid; ignored")
        return _twiml_response(render_twiml([]), 400)
    return _twiml_response(answer_once(runtime, number, sid, request.form))


@blueprint.post(STATUS_PATH)
def message_status():
    """Twilio's status callback for a message the worker sent: recorded on its outbox row, 204."""
    runtime = runtime_of()
    refusal = _refusal(runtime, STATUS_PATH)
    if refusal is not None:
        return refusal
    status = request.form.get("MessageStatus") or request.form.get("SmsStatus") or ""
    outcome = record_status(runtime, request.form.get("MessageSid", ""), status, request.form.get("ErrorCode"))
    if outcome != "recorded":  # unknown: sent by something else, or the callback beat our own record
        log.info("SMS status callback %r: %s", status[:24], outcome)
    return Response(status=204)


def _refusal(runtime, path: str) -> Response | None:
    """403 or 413 unless this is a Twilio-signed request of acceptable size for `path`."""
    if not request.headers.get("X-Twilio-Signature"):
        return _forbidden("missing X-Twilio-Signature")
    cap = runtime.config.sms.max_body_bytes  # the app also bounds chunked bodies that declare no length
    if request.content_length is not None and request.content_length > cap:
        log.warning("rejected SMS webhook: body of %d bytes exceeds %d", request.content_length, cap)
        return Response("too large", 413, mimetype="text/plain")
    problem = signature_problem(runtime.config.secrets, request.form, request.headers,
                                request.query_string.decode("utf-8", "replace"), path)
    if problem:
        return _forbidden(f"{problem} (From {mask_phone(request.form.get('From', ''))})")
    return None


def signature_problem(secrets: dict, form, headers, query: str = "", path: str = PATH) -> str | None:
    """None when Twilio signed this request for our public URL + path, else why not (for the log)."""
    signature = headers.get("X-Twilio-Signature", "")
    settings = headers.get(SIGNATURE_SETTINGS_HEADER)
    algorithm = get_signature_algorithm(settings)
    if algorithm not in (HMAC_SHA1, HMAC_SHA256):
        return f"unsupported signature algorithm {algorithm[:32]!r}"
    # A Webhooks Rule signs with a SharedKey secret instead of the Auth Token.
    secret = secrets.get("twilio_shared_key") if settings else secrets.get("twilio_auth_token")
    if not secret:
        return ("signed with a Twilio SharedKey, which is not configured" if settings
                else "JIUZHU_TWILIO_AUTH_TOKEN is not set")
    if not secrets.get("public_url"):
        return "JIUZHU_PUBLIC_URL is not set"
    url = secrets["public_url"].rstrip("/") + path + (f"?{query}" if query else "")
    if not RequestValidator(secret).validate(url, form, signature, algorithm=algorithm):
        return "invalid X-Twilio-Signature"
    return None


def answer_once(runtime, number: str, sid: str, form) -> str:
    """The TwiML for this message; a retry of the same MessageSid gets the first reply.

    The same turn pipeline as WeChat's (bot/dialogue/turns.py): claimed once, the reply
    kept with the claim, a reply ready after `[sms] reply_budget_seconds` sent by the
    outbox, and a polite apology (nothing recorded) while the database is unreachable.
    """
    body, num_media = form.get("Body", ""), _num_media(form)

    def keep(reply: Reply) -> dict:
        return {"twiml": runtime.protector.seal(render_twiml(reply.messages))}

    def send_later(session, reply: Reply) -> None:
        for i, text in enumerate(reply.messages):
            enqueue(runtime, CHANNEL, number, text, idempotency_key=f"sms-late:{sid}:{i}", session=session)

    budget = runtime.config.sms.reply_budget_seconds
    try:
        result = runtime.turns.handle(
            IncomingMessage(channel=CHANNEL, user_id=number, text=body),
            lambda turn: Reply(messages=respond(runtime, turn, body, num_media)),
            Delivery(claim=sid, keep=keep, send_later=send_later, deadline=budget))
    except Exception:  # noqa: BLE001 — a bug must reach the resident as an apology, not a 500
        log.exception("SMS webhook failed for a message from %s", mask_phone(number))
        return render_twiml([runtime.kb.message("generic_apology", CHANNEL)])
    if result.outcome is Outcome.UNAVAILABLE:
        return render_twiml([runtime.kb.message("generic_apology", CHANNEL)])
    if result.outcome is Outcome.REPLAYED:
        log.info("SMS retry of an already handled message")
        return runtime.protector.unseal(result.stored["twiml"])
    if result.outcome is not Outcome.ANSWERED:
        log.info("SMS from %s: answered %s", mask_phone(number),
                 "by the delivery in progress" if result.outcome is Outcome.IN_PROGRESS else "later")
        return render_twiml([])
    texts = result.reply.messages
    for text in texts:
        log.info("SMS reply to %s: %d segment(s)", mask_phone(number), segments(text))
    if not texts:
        log.info("SMS from %s: no reply", mask_phone(number))
    return render_twiml(texts)


def respond(runtime, turn: Turn, body: str, num_media: int = 0) -> list[str]:
    """What to send back to this message: carrier keywords first, then the engine.

    The keywords are knowledge/commands.yaml's sms_stop, sms_start, sms_help and sms_more.
    After STOP the number gets nothing but the answer to a HELP it sends itself.
    """
    kb, number, state = runtime.kb, turn.message.user_id, turn.state
    word = keyword_of(body).lower()
    if word in kb.commands.get("sms_stop", ()):
        with runtime.db.unit_of_work() as session:
            stopped_now = subscriptions.stop_everything(session, runtime, CHANNEL, number, wording=body,
                                                        source="sms_keyword")
        state.sms_pages = None
        return [kb.message("sms_stop_confirm", CHANNEL)] if stopped_now else []  # confirmed once
    if word in kb.commands.get("sms_start", ()) and not _asks_for_topics(runtime, number, word):
        with runtime.db.unit_of_work() as session:  # the resident's own word: back, with policy notices
            for topic in (subscriptions.ALL, subscriptions.NOTICES):
                subscriptions.change(session, runtime, CHANNEL, number, topic, subscriptions.SUBSCRIBED,
                                     wording=body, source="sms_keyword")
        return [_first_page(runtime, state, kb.message("sms_start_confirm", CHANNEL))]
    stopped = subscriptions.is_stopped(runtime, CHANNEL, number)
    if word in kb.commands.get("sms_help", ()):
        return [_first_page(runtime, state, kb.message("sms_help_stopped" if stopped else "sms_help", CHANNEL))]
    if stopped:
        return []  # an opted-out number receives nothing else
    if word in kb.commands.get("sms_more", ()):
        waiting = _waiting_pages(runtime, state)
        _keep_pages(runtime, state, waiting[1:])
        return [waiting[0] if waiting else kb.message("sms_no_more", CHANNEL)]
    if num_media and not body.strip():
        text = kb.message("media_not_supported_sms", CHANNEL)
    else:
        reply = runtime.engine.route_limited(turn)
        text = "\n".join(m.strip() for m in reply.messages if m.strip())
    return [_first_page(runtime, state, text)] if text else []


def _asks_for_topics(runtime, number: str, word: str) -> bool:
    """订阅 from a number that never opted out starts the topic subscription, confirmed before it
    counts (bot/publicity/subscribe.py); after STOP it is the resident's word to come back."""
    return subscribe.is_subscribe_word(word) and not subscriptions.is_stopped(runtime, CHANNEL, number)


def keyword_of(body: str) -> str:
    """The message as a carrier keyword: width-folded, upper-case, without spaces or stray punctuation."""
    word = _KEYWORD_NOISE.sub("", unicodedata.normalize("NFKC", body or "")).upper()
    return "?" if word and set(word) == {"?"} else word.strip("?")


def render_twiml(texts: list[str]) -> str:
    """A TwiML document sending each text; no texts renders an empty <Response/> (send nothing)."""
    response = MessagingResponse()
    for text in texts:
        response.message(text)
    return str(response)


def _first_page(runtime, state: ConversationState, text: str) -> str:
    """Page a reply: keep the rest for 'M' in the conversation (replacing what waited), return the first page."""
    limit = runtime.config.sms.segment_chars * runtime.config.sms.max_segments
    pages = paginate(text, limit, runtime.kb.message("sms_more_suffix", CHANNEL))
    _keep_pages(runtime, state, pages[1:])
    return pages[0]


def _waiting_pages(runtime, state: ConversationState) -> list[str]:
    return json.loads(runtime.protector.unseal(state.sms_pages)) if state.sms_pages else []


def _keep_pages(runtime, state: ConversationState, pages: list[str]) -> None:
    # pages may hold a screening summary: encrypted like the screening itself
    state.sms_pages = runtime.protector.seal(json.dumps(pages, ensure_ascii=False)) if pages else None


def _num_media(form) -> int:
    """Twilio's NumMedia, 0 when absent or malformed."""
    try:
        return int(form.get("NumMedia", "0") or 0)
    except ValueError:
        return 0


def _twiml_response(twiml: str, status: int = 200) -> Response:
    """A TwiML document as an HTTP response."""
    return Response(twiml, status, mimetype="text/xml")


def _forbidden(reason: str) -> Response:
    """403 and one log line (the reason carries no personal data)."""
    log.warning("rejected SMS webhook: %s", reason)
    return Response("forbidden", 403, mimetype="text/plain")
