"""Personal data protection: encryption at rest, keyed hashes, masking, scrubbing.

Names, ID numbers, phone numbers — and channel identities, since an SMS user id
is a phone number — are stored encrypted: AES-256-GCM under a key derived from
JIUZHU_DATA_KEY. Values written before that (Fernet: AES-128-CBC + HMAC-SHA256,
same key) still decrypt; the first byte of a token says which it is. GCM does
the same job with less work — every WeChat message seals its stored reply.
Look-ups (same resident, duplicate ID number) use a keyed hash instead, so they
never need to decrypt. Outside development mode a missing key is a start-up
error; in development a fixed, loudly-named key is used.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.errors import ConfigError

# Development only: never protects real data (mode = "development" in config).
DEVELOPMENT_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"jiuzhu-development-only").digest())
_GCM = b"\x81"  # first byte of a token: 0x81 AES-256-GCM (version, also authenticated); Fernet's is 0x80
_NONCE = 12


class DataProtector:
    """Encrypts, decrypts and blind-indexes personal values with one key."""

    def __init__(self, key: bytes | str):
        key = key.encode() if isinstance(key, str) else key
        try:
            self._fernet = Fernet(key)  # checks the key's format, and reads values written before GCM
        except (ValueError, TypeError):
            raise ConfigError("JIUZHU_DATA_KEY", "not a valid key; `jiuzhu keygen` prints one") from None
        secret = base64.urlsafe_b64decode(key)
        self._aead = AESGCM(hmac.new(secret, b"jiuzhu data encryption, aes-256-gcm v1", hashlib.sha256).digest())
        index_key = hmac.new(key, b"jiuzhu blind index v1", hashlib.sha256).digest()
        self._index_hmac = hmac.new(index_key, digestmod=hashlib.sha256)  # copied for each value

    @classmethod
    def from_secrets(cls, data_key: str | None, development: bool) -> DataProtector:
        """The protector for this deployment; no key outside development is an error."""
        if data_key:
            return cls(data_key)
        if development:
            return cls(DEVELOPMENT_KEY)
        raise ConfigError("JIUZHU_DATA_KEY", "required outside development mode; `jiuzhu keygen` prints one")

    def encrypt(self, value: str) -> bytes:
        """Ciphertext of a personal value (URL-safe base64, so it can be stored as text too)."""
        nonce = os.urandom(_NONCE)  # random 96-bit nonces: safe for far more values than a county stores
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), _GCM)
        return base64.urlsafe_b64encode(_GCM + nonce + sealed)

    def decrypt(self, token: bytes) -> str:
        """The clear value (raises ValueError if the data was tampered with or the key is wrong)."""
        token = bytes(token)
        try:
            data = base64.urlsafe_b64decode(token)
            if data[:1] == _GCM:
                return self._aead.decrypt(data[1:1 + _NONCE], data[1 + _NONCE:], _GCM).decode("utf-8")
            return self._fernet.decrypt(token).decode("utf-8")
        except (InvalidTag, InvalidToken, binascii.Error, ValueError):
            raise ValueError("cannot decrypt: wrong JIUZHU_DATA_KEY or damaged data") from None

    def seal(self, value: str) -> str:
        """encrypt() as text, for a JSON document or a text column (a stored reply, a screening)."""
        return self.encrypt(value).decode("ascii")

    def unseal(self, token: str) -> str:
        """The clear value of a seal()ed text (ValueError if damaged or under another key)."""
        try:
            raw = token.encode("ascii")
        except (AttributeError, UnicodeEncodeError):
            raise ValueError("cannot decrypt: not a sealed value") from None
        return self.decrypt(raw)

    def blind_index(self, kind: str, value: str) -> str:
        """A keyed hash: equal values match, nothing can be read back."""
        keyed = self._index_hmac.copy()  # a copy of the keyed state: no key set-up per value
        keyed.update(f"{kind}:{value}".encode())
        return keyed.hexdigest()


def generate_key() -> str:
    """A fresh key for JIUZHU_DATA_KEY."""
    return Fernet.generate_key().decode()


def mask_id_number(value: str) -> str:
    """First 6 and last 4 characters kept: 360732********2130."""
    return value[:6] + "*" * max(0, len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_phone(value: str) -> str:
    """First 3 and last 4 digits kept: 139****2468."""
    return value[:3] + "*" * max(0, len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


def mask_name(value: str) -> str:
    """First character kept: 黄**."""
    return value[:1] + "*" * max(1, len(value) - 1) if value else value


_ID_LIKE = re.compile(r"\d{6}[\d\s-]{8,}[\dxX]")
_PHONE_LIKE = re.compile(r"(?<!\d)1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)")
_LONG_DIGITS = re.compile(r"\d{7,}")
# A name the resident gives about themselves or someone: 我叫刘桂英, 名字是黄春生, 姓名：钟秀兰.
_NAME_GIVEN = re.compile(r"(我叫|我的名字[是叫]|名字[是叫]|姓名[是为：:]?\s*)[\u4e00-\u9fff]{2,3}")


def scrub_personal_data(text: str) -> str:
    """Remove ID-number-, phone- and account-like digit runs, and names given with 我叫 / 姓名,
    from free text before storing or logging."""
    text = _ID_LIKE.sub("[证件号]", text)
    text = _PHONE_LIKE.sub("[电话]", text)
    text = _NAME_GIVEN.sub(lambda m: m.group(1) + "[姓名]", text)
    return _LONG_DIGITS.sub("[数字]", text)
