"""WeChat's wire format: signatures, the message XML, passive replies, safe-mode envelopes.

Only this module (with wechat_kinds and wechat_api) knows how WeChat writes
things; the blueprint (handlers/wechat.py) checks requests with it and the
engine never sees it.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError

from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.messages import TextMessage
from wechatpy.replies import TextReply

CHANNEL = "wechat"
EMPTY = "success"           # WeChat shows nothing and does not retry
MAX_TEXT_BYTES = 2048       # WeChat's limit for a passive text reply
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


_ENVELOPE = """<xml>
<Encrypt><![CDATA[{encrypt}]]></Encrypt>
<MsgSignature><![CDATA[{signature}]]></MsgSignature>
<TimeStamp>{timestamp}</TimeStamp>
<Nonce><![CDATA[{nonce}]]></Nonce>
</xml>"""


def encrypted(xml: str, settings: Settings) -> str:
    """The reply in safe mode: what WeChatCrypto.encrypt_message gives, with the process's
    cipher (wechatpy's PrpCrypto) instead of one built for every message — half the cost."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    encrypt = settings.cipher.encrypt(xml, settings.app_id).decode("ascii")
    return _ENVELOPE.format(encrypt=encrypt, signature=sign(settings.token, timestamp, nonce, encrypt),
                            timestamp=timestamp, nonce=nonce)


def parse(xml: str):
    """A wechatpy message, or None for XML that is not a WeChat message."""
    try:
        message = _text_message(xml) or parse_message(xml)
    except (ExpatError, ElementTree.ParseError, KeyError, AttributeError, TypeError, ValueError):
        return None
    if message is None or not all(isinstance(raw_field(message, f), str) and raw_field(message, f)
                                  for f in ("FromUserName", "ToUserName")):
        return None
    # a field the bot reads must be text: <Content><Content/></Content> parses to a dict (found by fuzzing)
    if any(message._data.get(f) is not None and not isinstance(message._data[f], str)  # noqa: SLF001
           for f in READ_FIELDS):
        return None
    return message


READ_FIELDS = ("Content", "Recognition", "Event", "EventKey", "MsgType", "MsgId", "CreateTime")


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


def raw_field(message, name: str) -> str | None:
    """A field exactly as sent (wechatpy's typed fields raise on odd values)."""
    value = message._data.get(name)  # noqa: SLF001 — wechatpy keeps the parsed dict here
    return value if isinstance(value, str) else None


def xml_text(body: bytes) -> str | None:
    """The body as text, or None if it is not UTF-8 or declares a DTD (entity expansion)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lowered = text.lower()
    return None if "<!doctype" in lowered or "<!entity" in lowered else text


def reply_xml(text: str, message, settings: Settings) -> str:
    """The passive text reply to `message` (encrypted in safe mode)."""
    # CDATA cannot contain "]]>": split it across two sections.
    xml = TextReply(message=message, content=text.replace("]]>", "]]]]><![CDATA[>")).render()
    return encrypted(xml, settings) if settings.cipher is not None else xml


def same(expected: str, given: str | None) -> bool:
    """Constant-time comparison (wechatpy's check_signature uses !=)."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def fresh(timestamp: str | None, window: int) -> bool:
    """Whether a request's timestamp is within `window` seconds of now (replays refused)."""
    try:
        return abs(time.time() - int(timestamp or "")) <= window
    except ValueError:
        return False
