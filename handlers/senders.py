"""Outbox senders: SMS through Twilio's REST API, WeChat customer-service messages (客服消息).

Only this module (with the webhooks) talks to the providers; bot/outbox.py hands
each claimed message to `send(recipient, body)` and learns the outcome from the
return value or a SendError. A failure is classified by what the provider can
have seen: refused before the request was complete → TemporaryFailure (try
later); an answer saying no → PermanentFailure; the request went out but no
answer came → UnknownOutcome, never retried (neither API takes an idempotency
key, so a retry could deliver twice). Logs carry masked numbers, never text.
"""
from __future__ import annotations

import json
import logging
import urllib.parse

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from bot.errors import ConfigError
from bot.outbox import PermanentFailure, Sender, Sent, TemporaryFailure, UnknownOutcome
from bot.phones import to_e164
from bot.privacy import mask_phone
from handlers.sms_text import STATUS_PATH, segments
from handlers.wechat_api import TOKEN_ERRORS, WeChatApi, WeChatApiError

log = logging.getLogger(__name__)

TWILIO_API_BASE = "https://api.twilio.com"
TWILIO_SECRETS = {"twilio_account_sid": "JIUZHU_TWILIO_ACCOUNT_SID",
                  "twilio_auth_token": "JIUZHU_TWILIO_AUTH_TOKEN", "twilio_from": "JIUZHU_TWILIO_FROM"}
MAX_SMS_CHARS = 1600               # Twilio refuses longer bodies
CUSTOM_SEND = "/cgi-bin/message/custom/send"
# WeChat errcodes worth another try later: system busy, API call quotas.
WECHAT_TEMPORARY = {-1, 45009, 45011}


class SmsSender:
    """Sends an SMS with twilio.rest.Client; Twilio reports delivery to POST /sms/status."""

    def __init__(self, account_sid: str, auth_token: str, sender: str, status_callback: str | None,
                 api_base: str = TWILIO_API_BASE, timeout: float = 10.0):
        http = TwilioHttpClient(timeout=timeout) if api_base == TWILIO_API_BASE \
            else _RebasedHttpClient(api_base, timeout)
        self.client = Client(account_sid, auth_token, http_client=http)
        # A Messaging Service SID (MG…) picks the sending number itself.
        self.origin = {"messaging_service_sid" if sender.startswith("MG") else "from_": sender}
        self.status_callback = status_callback
        self.max_seconds = 2 * timeout   # connect and read timeouts of one request

    @classmethod
    def from_runtime(cls, runtime) -> SmsSender:
        """The sender of this deployment; missing credentials are a ConfigError."""
        secrets = runtime.config.secrets
        for name, variable in TWILIO_SECRETS.items():
            if not secrets.get(name):
                raise ConfigError(variable, "not set (needed to send SMS)")
        section = runtime.config.sms
        public_url = secrets.get("public_url")
        if not public_url:
            log.warning("JIUZHU_PUBLIC_URL is not set: Twilio cannot report SMS delivery")
        return cls(secrets["twilio_account_sid"], secrets["twilio_auth_token"], secrets["twilio_from"],
                   public_url.rstrip("/") + STATUS_PATH if public_url else None,
                   api_base=section.api_base, timeout=section.send_timeout_seconds)

    def send(self, recipient: str, body: str) -> Sent:
        """POST one message to Twilio's Messages resource; its SID identifies later status callbacks."""
        number = to_e164(recipient)
        if len(body) > MAX_SMS_CHARS:
            raise PermanentFailure(f"body longer than {MAX_SMS_CHARS} characters")
        try:
            message = self.client.messages.create(to=number, body=body, status_callback=self.status_callback,
                                                  **self.origin)
        except TwilioException as exc:  # Twilio answered no; its message may quote the number, so not kept
            status, code = getattr(exc, "status", None), getattr(exc, "code", None)
            reason = f"Twilio HTTP {status}" + (f" error {code}" if code and code != status else "")
            if status is not None and (status == 429 or status >= 500):
                raise TemporaryFailure(reason) from None
            raise PermanentFailure(reason if status is not None else "Twilio client error") from None
        except (requests.ConnectTimeout, requests.ConnectionError) as exc:
            if isinstance(exc, requests.ConnectTimeout) or _not_connected(exc):
                raise TemporaryFailure(f"Twilio unreachable ({type(exc).__name__})") from None
            raise UnknownOutcome(f"connection to Twilio lost ({type(exc).__name__})") from None
        except requests.RequestException as exc:  # read timeout and the like: Twilio may have it
            raise UnknownOutcome(f"no answer from Twilio ({type(exc).__name__})") from None
        count = segments(body)
        log.info("SMS sent to %s: %d segment(s)", mask_phone(number), count)
        return Sent(provider_id=message.sid, segments=count)


class WechatSender:
    """Sends a customer-service text message with the access token every process shares."""

    def __init__(self, api: WeChatApi):
        self.api = api
        self.max_seconds = 4 * api.timeout  # at worst: token, send, fresh token, send

    @classmethod
    def from_runtime(cls, runtime) -> WechatSender:
        """The sender of this deployment (AppID and AppSecret required)."""
        return cls(WeChatApi.from_runtime(runtime))

    def send(self, recipient: str, body: str) -> Sent:
        """POST {api_base}/cgi-bin/message/custom/send; a refused token is replaced once."""
        payload = json.dumps({"touser": recipient, "msgtype": "text", "text": {"content": body}},
                             ensure_ascii=False).encode("utf-8")
        for attempt in range(2):
            try:
                token = self.api.access_token()
            except WeChatApiError as exc:  # its text never holds the secret or the token
                raise TemporaryFailure(str(exc)[:150]) from None
            try:
                code = _errcode(self.api.call(CUSTOM_SEND, payload, token))
            except WeChatApiError as exc:
                raise _failure_of(exc) from None
            if code in TOKEN_ERRORS and attempt == 0:
                self.api.forget_token(token)  # refused, so nothing was sent: safe to repeat
                continue
            if code == 0:
                log.info("WeChat customer-service message sent (%d bytes)", len(body.encode("utf-8")))
                return Sent()
            failure = TemporaryFailure if code in WECHAT_TEMPORARY else PermanentFailure
            raise failure(f"WeChat errcode {code}")
        raise TemporaryFailure("WeChat refused a fresh access token")


def _failure_of(error: WeChatApiError) -> Exception:
    """The outbox's kind of failure for a customer-service call that did not get through."""
    if error.maybe_received:
        return UnknownOutcome(str(error)[:150])
    if error.status is not None and not (error.status >= 500 or error.status == 429):
        return PermanentFailure(str(error)[:150])
    return TemporaryFailure(str(error)[:150])


def build_senders(runtime) -> dict[str, Sender]:
    """A sender for each channel whose API credentials are set; none at all is a ConfigError."""
    secrets = runtime.config.secrets
    senders: dict[str, Sender] = {}
    if any(secrets.get(name) for name in TWILIO_SECRETS):
        senders["sms"] = SmsSender.from_runtime(runtime)
    if secrets.get("wechat_app_id") or secrets.get("wechat_app_secret"):
        senders["wechat"] = WechatSender.from_runtime(runtime)
    if not senders:
        raise ConfigError("JIUZHU_TWILIO_ACCOUNT_SID / JIUZHU_WECHAT_APP_ID",
                          "no channel to send with: set the Twilio or WeChat API credentials")
    return senders


class _RebasedHttpClient(TwilioHttpClient):
    """Twilio's HTTP client, sending to another base URL (a local fake API in tests).

    A custom `http_client` is twilio-python's supported hook for changing how requests
    are made (Twilio's guide to mocking its API with Prism uses it); paths are kept.
    """

    def __init__(self, base: str, timeout: float):
        super().__init__(timeout=timeout)
        self.base = urllib.parse.urlsplit(base)

    def request(self, method, url, *args, **kwargs):
        """Twilio's request, with scheme and host replaced by the configured base."""
        parts = urllib.parse.urlsplit(url)
        url = urllib.parse.urlunsplit((self.base.scheme, self.base.netloc,
                                       self.base.path.rstrip("/") + parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


def _not_connected(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made (refused, no route, DNS), so Twilio saw nothing."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _errcode(result: dict) -> int | str:
    """WeChat's errcode as an int (0 when absent), or the raw value if it is not a number."""
    code = result.get("errcode", 0)
    try:
        return int(code)
    except (TypeError, ValueError):
        return str(code)[:20]
