"""WeChat's answers to a message send, as the outbox's kinds of failure (bot/outbox.py).

Shared by the per-message senders (handlers/senders.py) and the 群发 batches
(handlers/wechat_mass.py): one table of errcodes, one reading of a call that did not get through.
"""
from __future__ import annotations

import datetime as dt

from bot.outbox import PermanentFailure, SendError, TemporaryFailure, UnknownOutcome
from handlers.wechat_api import TOKEN_ERRORS, WeChatApi, WeChatApiError

WINDOW_CLOSED_WORDS = "the resident has not written for over 48 hours (customer-service window closed)"
WINDOW_CLOSED = 45015               # customer-service message more than 48 h after the resident's last message
# WeChat busy: another try soon. Quotas used up: another try after [wechat] limit_retry_minutes.
WECHAT_TEMPORARY = {-1}
WECHAT_LIMITS = {45009: "daily API call quota reached", 45011: "API called too often",
                 45047: "customer-service message limit for this resident reached",
                 45028: "no 群发 quota left"}
# Refusals a caseworker can act on, in the reason kept with the message.
WECHAT_PERMANENT = {43004: "the resident no longer follows the account", 40003: "not a follower's openid",
                    43019: "the resident blocked the account", 40037: "notice_template_id is not a template "
                    "of this account", 43101: "the resident refused this template's messages",
                    45065: "this 群发 was already accepted", 40130: "a 群发 needs at least two openids"}


def posted(api: WeChatApi, path: str, payload: dict) -> dict:
    """POST a message and return WeChat's answer, or raise the outbox's kind of failure."""
    try:
        return api.send_message(path, payload)
    except WeChatApiError as exc:
        raise failure_of(exc) from None


def wechat_failure(code: int | str, limit_retry: dt.timedelta) -> SendError:
    """The outbox's failure for a WeChat errcode other than 0 (and 45015, which has a fallback)."""
    if code in WECHAT_LIMITS:  # a quota: the usual 30-second backoff would only hit it again
        return TemporaryFailure(f"WeChat errcode {code}: {WECHAT_LIMITS[code]}", retry_after=limit_retry)
    if code in WECHAT_TEMPORARY or code in TOKEN_ERRORS:  # busy, or a second token refused
        return TemporaryFailure(f"WeChat errcode {code}")
    return PermanentFailure(f"WeChat errcode {code}" + (f": {WECHAT_PERMANENT[code]}" if code in WECHAT_PERMANENT else ""))


def failure_of(error: WeChatApiError) -> Exception:
    """The outbox's kind of failure for a customer-service call that did not get through."""
    if error.maybe_received:
        return UnknownOutcome(str(error)[:150])
    if error.status is not None and not (error.status >= 500 or error.status == 429):
        return PermanentFailure(str(error)[:150])
    return TemporaryFailure(str(error)[:150])
