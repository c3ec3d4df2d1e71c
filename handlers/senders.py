"""Outbox senders: SMS through Twilio's REST API, WeChat customer-service messages (客服消息) and
template messages (模板消息); the broadcasts' 群发 batches are handlers/wechat_mass.py.

Only this module (with the webhooks) talks to the providers; bot/outbox.py hands
each claimed message to `send(recipient, body)` and learns the outcome from the
return value or a SendError. A failure is classified by what the provider can
have seen: refused before the request was complete → TemporaryFailure (try
later); an answer saying no → PermanentFailure; the request went out but no
answer came → UnknownOutcome, never retried (neither API takes an idempotency
key, so a retry could deliver twice). Logs carry masked numbers, never text.
"""
from __future__ import annotations

import datetime as dt
import logging
import urllib.parse
import zoneinfo

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from bot.config import MASS_MAX_OPENIDS
from bot.errors import ConfigError
from bot.outbox import PermanentFailure, Sender, Sent, TemporaryFailure, UnknownOutcome
from bot.phones import to_e164
from bot.privacy import mask_phone
from handlers.sms_text import STATUS_PATH, segments
from handlers.wechat_api import WeChatApi, errcode_of
from handlers.wechat_errors import WINDOW_CLOSED, WINDOW_CLOSED_WORDS, posted, wechat_failure

log = logging.getLogger(__name__)

TWILIO_API_BASE = "https://api.twilio.com"
TWILIO_SECRETS = {"twilio_account_sid": "JIUZHU_TWILIO_ACCOUNT_SID",
                  "twilio_auth_token": "JIUZHU_TWILIO_AUTH_TOKEN", "twilio_from": "JIUZHU_TWILIO_FROM"}
MAX_SMS_CHARS = 1600               # Twilio refuses longer bodies
CUSTOM_SEND = "/cgi-bin/message/custom/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
TEMPLATE_THING_CHARS = 20           # a template's `thing` keyword shows at most 20 characters
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
    """Sends a customer-service text message with the access token every process shares.

    A customer-service message is only allowed within 48 h of the resident's last message;
    when WeChat says the window closed (45015), the notice goes as a 模板消息 if config.toml
    names a template, else it fails saying so (trying again cannot reopen the window).
    """

    def __init__(self, api: WeChatApi, templates: TemplateSender | None = None,
                 limit_retry: dt.timedelta = dt.timedelta(hours=1), mass_batch_size: int = MASS_MAX_OPENIDS):
        self.api, self.templates, self.limit_retry = api, templates, limit_retry
        self.mass_batch_size = mass_batch_size  # openids per 群发 call (handlers/wechat_mass.py)
        self.max_seconds = 8 * api.timeout  # at worst: token, send, fresh token, send; then the template's

    @classmethod
    def from_runtime(cls, runtime) -> WechatSender:
        """The sender of this deployment (AppID and AppSecret required)."""
        api = WeChatApi.from_runtime(runtime)
        section = runtime.config.wechat
        return cls(api, TemplateSender.from_settings(api, section, runtime.config.workbench.timezone),
                   dt.timedelta(minutes=section.limit_retry_minutes), section.mass_batch_size)

    def send(self, recipient: str, body: str) -> Sent:
        """POST {api_base}/cgi-bin/message/custom/send; a refused token is replaced once."""
        code = errcode_of(posted(self.api, CUSTOM_SEND,
                                  {"touser": recipient, "msgtype": "text", "text": {"content": body}}))
        if code == 0:
            log.info("WeChat customer-service message sent (%d bytes)", len(body.encode("utf-8")))
            return Sent()
        if code == WINDOW_CLOSED:
            if self.templates is None:
                raise PermanentFailure(f"WeChat errcode {code}: {WINDOW_CLOSED_WORDS}, and no notice template "
                                       "is configured ([wechat] notice_template_id)")
            return self.templates.send(recipient, title_of(body))
        raise wechat_failure(code, self.limit_retry)

    def deliver_batches(self, runtime, policy, stop=None, now=None):
        """The broadcasts' 群发 and template rows, which the per-message worker leaves alone."""
        from handlers.wechat_mass import deliver_routed  # it imports this module

        return deliver_routed(runtime, self, policy, stop=stop, now=now)


class TemplateSender:
    """模板消息 (POST /cgi-bin/message/template/send) of the service-notice template in config.toml.

    A template shows short keyword values only (a `thing` keyword: 20 characters), so it
    carries the notice's title and date, never the whole text; `url` may link to the notice.
    """

    def __init__(self, api: WeChatApi, template_id: str, title_key: str, date_key: str, url: str,
                 zone: str, limit_retry: dt.timedelta = dt.timedelta(hours=1)):
        self.api, self.template_id, self.title_key, self.date_key, self.url = api, template_id, title_key, date_key, url
        self.zone, self.limit_retry = zoneinfo.ZoneInfo(zone), limit_retry
        self.max_seconds = 4 * api.timeout

    @classmethod
    def from_settings(cls, api: WeChatApi, section, zone: str) -> TemplateSender | None:
        """The template of `[wechat]`, or None when notice_template_id is empty."""
        if not section.notice_template_id:
            return None
        return cls(api, section.notice_template_id, section.notice_template_title_key,
                   section.notice_template_date_key, section.notice_template_url, zone,
                   dt.timedelta(minutes=section.limit_retry_minutes))

    def payload(self, recipient: str, title: str, when: dt.datetime | None = None) -> dict:
        """The template/send body: title and date in the template's keywords."""
        local = (when or dt.datetime.now(dt.timezone.utc)).astimezone(self.zone)
        payload = {"touser": recipient, "template_id": self.template_id,
                   "data": {self.title_key: {"value": title[:TEMPLATE_THING_CHARS]},
                            self.date_key: {"value": f"{local:%Y-%m-%d %H:%M}"}}}
        if self.url:
            payload["url"] = self.url
        return payload

    def send(self, recipient: str, title: str) -> Sent:
        """One template message; WeChat's msgid identifies it (its TEMPLATESENDJOBFINISH event)."""
        result = posted(self.api, TEMPLATE_SEND, self.payload(recipient, title))
        code = errcode_of(result)
        if code == 0:
            log.info("WeChat template message sent")
            return Sent(provider_id=str(result.get("msgid") or "")[:64] or None)
        raise wechat_failure(code, self.limit_retry)


def title_of(body: str) -> str:
    """A template's title from a message: its first line without the 【】 a notice wears."""
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    return first.strip("【】").strip() or first


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
