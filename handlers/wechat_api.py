"""The WeChat server API: a shared access token and the custom menu.

The access token is shared by every server process through the `api_tokens`
table: WeChat limits how often a token may be fetched, and a fresh one
replaces the old after five minutes, so processes must not each keep their
own. Requests use the standard library; `[wechat] api_base` points them at
WeChat (or, in tests, at a local fake server).

    WeChatApiError   WeChat or the network refused a call (a JiuzhuError:
                     the CLI prints it; it never carries the secret or token)
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.errors import ConfigError, JiuzhuError
from bot.storage.db import Database
from bot.storage.models import ApiToken, utcnow

DEFAULT_API_BASE = "https://api.weixin.qq.com"
REFRESH_MARGIN = dt.timedelta(minutes=5)   # refresh this long before WeChat's expiry
TOKEN_ERRORS = {40001, 40014, 42001}      # invalid / malformed / expired access token
MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
NAME_BYTES, SUB_NAME_BYTES, KEY_BYTES = 16, 60, 128   # WeChat's menu limits


class WeChatApiError(JiuzhuError):
    """WeChat or the network refused an API call.

    `status` is WeChat's HTTP status when it answered with an error; `maybe_received`
    is True when the request went out but no readable answer came (it may have worked).
    """

    def __init__(self, message: str, status: int | None = None, maybe_received: bool = False):
        super().__init__(message)
        self.status, self.maybe_received = status, maybe_received


@dataclass
class WeChatApi:
    """A small WeChat API client whose access token lives in the database."""

    db: Database
    app_id: str
    app_secret: str
    api_base: str = DEFAULT_API_BASE
    timeout: float = 10.0

    @classmethod
    def from_runtime(cls, runtime) -> WeChatApi:
        """The client for this deployment; missing credentials are a ConfigError."""
        secrets = runtime.config.secrets
        for name, variable in (("wechat_app_id", "JIUZHU_WECHAT_APP_ID"),
                               ("wechat_app_secret", "JIUZHU_WECHAT_APP_SECRET")):
            if not secrets.get(name):
                raise ConfigError(variable, "not set (needed to call the WeChat API)")
        return cls(runtime.db, secrets["wechat_app_id"], secrets["wechat_app_secret"],
                   runtime.config.wechat.api_base)

    @property
    def token_name(self) -> str:
        """The api_tokens row holding this account's access token."""
        return f"wechat:{self.app_id}"

    def access_token(self) -> str:
        """A token valid for at least five more minutes, fetched only when needed."""
        for _ in range(2):
            try:
                with self.db.session() as s:
                    # FOR UPDATE (PostgreSQL) makes other processes wait for our refresh
                    # instead of fetching their own; SQLite serialises writers anyway.
                    row = s.execute(select(ApiToken).where(ApiToken.name == self.token_name)
                                    .with_for_update()).scalar_one_or_none()
                    if row is not None and _aware(row.expires_at) - REFRESH_MARGIN > utcnow():
                        return row.value
                    value, expires_at = self._fetch_token()
                    if row is None:
                        s.add(ApiToken(name=self.token_name, value=value, expires_at=expires_at))
                    else:
                        row.value, row.expires_at = value, expires_at
                return value
            except IntegrityError:
                continue  # another process stored the first token a moment ago: read it
        raise WeChatApiError("could not store the WeChat access token")

    def forget_token(self, value: str) -> None:
        """Mark this token expired (WeChat rejected it) unless a newer one replaced it."""
        with self.db.session() as s:
            row = s.execute(select(ApiToken).where(ApiToken.name == self.token_name)
                            .with_for_update()).scalar_one_or_none()
            if row is not None and row.value == value:
                row.expires_at = utcnow()

    def post(self, path: str, payload: dict) -> dict:
        """POST JSON to an API path with the access token; one retry with a fresh token."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")  # WeChat wants raw UTF-8
        for attempt in range(2):
            token = self.access_token()
            result = self.call(path, body, token)
            code = result.get("errcode", 0)
            if code in TOKEN_ERRORS and attempt == 0:
                self.forget_token(token)
                continue
            if code:
                raise WeChatApiError(f"WeChat {path} failed: errcode {code} ({result.get('errmsg', '')})")
            return result
        raise WeChatApiError(f"WeChat {path} failed: the access token was refused twice")

    def send_message(self, path: str, payload: dict) -> dict:
        """POST a message (customer-service, 群发, template) with the shared token; WeChat's answer.

        A token WeChat refuses (40001/42001) is replaced once: refused, nothing was sent, so the
        call is safe to repeat. Any other errcode is the caller's to judge. A failure to get a
        token is a WeChatApiError that never says `maybe_received` (no message went out);
        a call that went out without a readable answer does.
        """
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")  # WeChat wants raw UTF-8
        result: dict = {}
        for attempt in range(2):
            try:
                token = self.access_token()
            except WeChatApiError as exc:
                raise WeChatApiError(str(exc), status=exc.status) from None
            result = self.call(path, body, token)
            if errcode_of(result) in TOKEN_ERRORS and attempt == 0:
                self.forget_token(token)
                continue
            break
        return result

    def create_menu(self, menu: dict) -> None:
        """Publish the custom menu (replaces the current one)."""
        self.post("/cgi-bin/menu/create", menu)

    def call(self, path: str, body: bytes, token: str) -> dict:
        """One POST of a JSON body to an API path with this access token; WeChat's answer."""
        return self._request(f"{self.api_base}{path}?{urllib.parse.urlencode({'access_token': token})}",
                             body, what=path)

    def _fetch_token(self) -> tuple[str, dt.datetime]:
        query = urllib.parse.urlencode({"grant_type": "client_credential",
                                        "appid": self.app_id, "secret": self.app_secret})
        result = self._request(f"{self.api_base}/cgi-bin/token?{query}", None, what="/cgi-bin/token")
        if result.get("errcode") or not result.get("access_token"):
            raise WeChatApiError(f"WeChat /cgi-bin/token failed: errcode {result.get('errcode')} "
                                 f"({result.get('errmsg', 'no access_token')})")
        try:
            lifetime = int(result.get("expires_in", 7200))
        except (TypeError, ValueError):
            lifetime = 7200
        return str(result["access_token"]), utcnow() + dt.timedelta(seconds=lifetime)

    def _request(self, url: str, body: bytes | None, what: str) -> dict:
        """One HTTP call; `what` names it in errors because the URL carries secrets."""
        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else {}
        req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 — https checked
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise WeChatApiError(f"WeChat {what} failed: HTTP {exc.code}", status=exc.code) from None
        except urllib.error.URLError as exc:  # raised while connecting or writing: not received
            raise WeChatApiError(f"WeChat {what} unreachable ({type(exc.reason).__name__})") from None
        except (OSError, http.client.HTTPException) as exc:  # sent, but no answer came
            raise WeChatApiError(f"no answer from WeChat {what} ({type(exc).__name__})",
                                 maybe_received=True) from None
        try:
            result = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise WeChatApiError(f"WeChat {what} answered something that is not JSON",
                                 maybe_received=True) from None
        if not isinstance(result, dict):
            raise WeChatApiError(f"WeChat {what} answered something that is not a JSON object",
                                 maybe_received=True)
        return result


def errcode_of(result: dict) -> int | str:
    """WeChat's errcode as an int (0 when absent), or the raw value if it is not a number."""
    code = result.get("errcode", 0)
    try:
        return int(code)
    except (TypeError, ValueError):
        return str(code)[:20]


def menu_of(menu: dict) -> tuple[dict, dict[str, str]]:
    """From `[wechat.menu]`: the JSON WeChat expects, and each click key's text for the engine."""
    buttons = (menu or {}).get("button") or []
    if not isinstance(buttons, list) or len(buttons) > MAX_BUTTONS:
        raise ConfigError("wechat.menu", f"needs a list of at most {MAX_BUTTONS} buttons")
    texts: dict[str, str] = {}
    published = []
    for i, button in enumerate(buttons, 1):
        where = f"wechat.menu.button[{i}]"
        subs = button.get("sub_button") if isinstance(button, dict) else None
        if subs is None:
            published.append(_button(button, where, NAME_BYTES, texts))
            continue
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB_BUTTONS:
            raise ConfigError(where, f"needs 1 to {MAX_SUB_BUTTONS} sub-buttons")
        name = _name(button, where, NAME_BYTES)
        published.append({"name": name, "sub_button": [
            _button(sub, f"{where}.sub_button[{j}]", SUB_NAME_BYTES, texts) for j, sub in enumerate(subs, 1)]})
    return {"button": published}, texts


def _button(button, where: str, name_bytes: int, texts: dict[str, str]) -> dict:
    """One leaf button as WeChat wants it; a click's text is recorded, not published."""
    if not isinstance(button, dict):
        raise ConfigError(where, "must be a table")
    kind = button.get("type")
    out = {"type": kind, "name": _name(button, where, name_bytes)}
    if kind == "click":
        key, text = button.get("key"), button.get("text")
        if not isinstance(key, str) or not key or len(key.encode()) > KEY_BYTES:
            raise ConfigError(f"{where}.key", f"must be 1 to {KEY_BYTES} bytes")
        if key in texts:
            raise ConfigError(f"{where}.key", f"{key!r} is used twice")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}.text", "must say what the click means (the text the bot answers)")
        texts[key] = text
        out["key"] = key
    elif kind == "view":
        url = button.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}.url", "must be a web address")
        out["url"] = url
    else:
        raise ConfigError(f"{where}.type", f"must be click or view, got {kind!r}")
    return out


def _name(button: dict, where: str, limit: int) -> str:
    name = button.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.encode("utf-8")) > limit:
        raise ConfigError(f"{where}.name", f"must be 1 to {limit} bytes (UTF-8)")
    return name


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
