"""Encryption at rest, keyed hashes, masking and scrubbing of personal data."""
import pytest

from bot.errors import ConfigError
from bot.privacy import (DataProtector, generate_key, mask_id_number, mask_name, mask_phone,
                         scrub_personal_data)


def test_encrypt_round_trip_and_ciphertext_hides_value():
    p = DataProtector(generate_key())
    token = p.encrypt("360732197909152130")
    assert b"360732" not in token
    assert p.decrypt(token) == "360732197909152130"


def test_wrong_key_cannot_decrypt():
    token = DataProtector(generate_key()).encrypt("黄春生")
    with pytest.raises(ValueError, match="cannot decrypt"):
        DataProtector(generate_key()).decrypt(token)


def test_values_sealed_before_gcm_still_decrypt():
    """Rows written with the earlier Fernet tokens stay readable under the same key."""
    from cryptography.fernet import Fernet

    key = generate_key()
    old_token = Fernet(key.encode()).encrypt("谢玉莲".encode())
    assert DataProtector(key).decrypt(old_token) == "谢玉莲"


def test_each_seal_is_fresh_and_any_change_is_refused():
    import base64

    p = DataProtector(generate_key())
    first, second = p.encrypt("13907971234"), p.encrypt("13907971234")
    assert first != second and first.decode("ascii") and base64.urlsafe_b64decode(first)[:1] == b"\x81"
    raw = bytearray(base64.urlsafe_b64decode(first))
    for position in (0, 5, len(raw) - 1):  # the version byte, the nonce, the tag
        changed = bytearray(raw)
        changed[position] ^= 0x01
        with pytest.raises(ValueError, match="cannot decrypt"):
            p.decrypt(base64.urlsafe_b64encode(bytes(changed)))
    for broken in (first[:20], b"", b"not base64 at all!"):
        with pytest.raises(ValueError, match="cannot decrypt"):
            p.decrypt(broken)


def test_blind_index_matches_equal_values_only_under_the_same_key():
    p, q = DataProtector(generate_key()), DataProtector(generate_key())
    assert p.blind_index("id", "x") == p.blind_index("id", "x")
    assert p.blind_index("id", "x") != p.blind_index("id", "y")
    assert p.blind_index("id", "x") != q.blind_index("id", "x")


def test_blind_index_is_the_documented_keyed_hash():
    """Stored lookups (conversations, phones) must keep matching across versions of the code."""
    import hashlib
    import hmac

    key = "q2YJ1Ys0cU7Qb7wz0n8W2S5nq1dVfXo3gMZ2YB9sK0E="
    index_key = hmac.new(key.encode(), b"jiuzhu blind index v1", hashlib.sha256).digest()
    expected = hmac.new(index_key, "wechat:openid-1".encode(), hashlib.sha256).hexdigest()
    protector = DataProtector(key)
    assert protector.blind_index("wechat", "openid-1") == expected
    assert protector.blind_index("wechat", "openid-1") == expected  # the keyed state is reused, not consumed


def test_missing_key_is_an_error_outside_development():
    with pytest.raises(ConfigError) as err:
        DataProtector.from_secrets(None, development=False)
    assert err.value.key == "JIUZHU_DATA_KEY"
    assert DataProtector.from_secrets(None, development=True).decrypt(
        DataProtector.from_secrets(None, development=True).encrypt("a")) == "a"


def test_bad_key_is_a_clear_error():
    with pytest.raises(ConfigError, match="keygen"):
        DataProtector("not-a-key")


def test_masks_follow_the_contract():
    assert mask_id_number("360732197909152130") == "360732********2130"
    assert mask_phone("13970712468") == "139****2468"
    assert mask_name("黄春生") == "黄**"


def test_scrub_removes_id_numbers_and_phones_from_free_text():
    text = scrub_personal_data("我身份证360732 1979 0915 2130，电话139-7071-2468，问下低保")
    assert "2130" not in text and "2468" not in text
    assert "问下低保" in text


def test_sealed_text_round_trips_and_refuses_another_key_or_damage():
    p, q = DataProtector(generate_key()), DataProtector(generate_key())
    token = p.seal("黄小明 13800000001")
    assert isinstance(token, str) and "黄" not in token and p.unseal(token) == "黄小明 13800000001"
    with pytest.raises(ValueError):
        q.unseal(token)
    with pytest.raises(ValueError):
        p.unseal(token[:-4] + "AAAA")
    with pytest.raises(ValueError):
        p.unseal("封")
