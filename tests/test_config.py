"""config.toml loading: clear errors naming the key, environment overrides."""
import re
from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path, replace: tuple[str, str] | None = None, drop: str | None = None) -> Path:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    if replace:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1])
    if drop:
        text = "\n".join(line for line in text.splitlines() if not line.startswith(drop))
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_config_loads_county_facts():
    cfg = load_config(ROOT / "config.toml", environ={})
    assert cfg.county.name == "兴国县"
    assert cfg.county.area_code == "360732"
    assert len(cfg.county.townships) == 25
    assert cfg.county.standards.dibao_urban == 900 and cfg.county.standards.dibao_rural == 720
    assert cfg.county.standards.verified is False
    assert set(cfg.county.service_centers) == set(cfg.county.townships)


@pytest.mark.parametrize("drop, key", [
    ("dibao_rural", "county.standards.dibao_rural"),
    ("area_code", "county.area_code"),
    ("assistance", "county.hotlines.assistance"),
])
def test_missing_setting_names_the_key(tmp_path, drop, key):
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, drop=drop), environ={})
    assert err.value.key == key
    assert key in str(err.value)


@pytest.mark.parametrize("old, new, key", [
    ('dibao_urban = 900', 'dibao_urban = "nine hundred"', "county.standards.dibao_urban"),
    ('area_code = "360732"', 'area_code = "3607"', "county.area_code"),
    ('answer = 0.55', 'answer = 0.2', "matching"),
    ('semantic = true', 'semantic = "yes"', "matching.semantic"),
    ('semantic_below = 0.85', 'semantic_below = 0.4', "matching.semantic_below"),
    ('"长冈乡" = "长冈乡人民政府便民服务中心"\n', '', "county.service_centers"),
    ('mode = "development"', 'mode = "staging"', "app.mode"),
])
def test_wrong_setting_names_the_key(tmp_path, old, new, key):
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, replace=(old, new)), environ={})
    assert err.value.key == key


def test_missing_file_and_bad_toml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[county\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})


def test_database_url_from_environment_wins(tmp_path):
    cfg = load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": "postgresql://x@h/db"})
    assert cfg.database_url == "postgresql://x@h/db"


def test_relative_sqlite_path_is_next_to_the_config(tmp_path):
    cfg = load_config(write_config(tmp_path), environ={})
    assert cfg.database_url == f"sqlite:///{tmp_path.resolve() / 'jiuzhu.sqlite3'}"


def test_secrets_come_only_from_the_environment():
    committed = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(token|app_secret|auth_token|aes_key|data_key|secret_key|password)\s*=",
                         committed, re.MULTILINE)
    cfg = load_config(ROOT / "config.toml", environ={"JIUZHU_WECHAT_TOKEN": "tok"})
    assert cfg.secrets["wechat_token"] == "tok"
    assert cfg.secrets["data_key"] is None


def test_channel_sections_are_typed_with_the_documented_values():
    cfg = load_config(ROOT / "config.toml", environ={})
    assert (cfg.wechat.max_body_bytes, cfg.wechat.reply_budget_seconds) == (65536, 4.0)
    assert (cfg.database_wait_seconds, cfg.claim_lease_seconds, cfg.sms.reply_budget_seconds) == (3.0, 4.5, 10.0)
    assert cfg.wechat.api_base == "https://api.weixin.qq.com" and cfg.wechat.menu["button"]
    assert (cfg.sms.segment_chars, cfg.sms.max_segments, cfg.sms.max_body_bytes) == (67, 2, 32768)
    assert (cfg.worker.poll_seconds, cfg.worker.stuck_minutes, cfg.worker.purge_every_minutes) == (2, 15, 60)
    assert cfg.workbench.max_body_bytes == 1048576


def test_a_missing_channel_setting_takes_its_default(tmp_path):
    cfg = load_config(write_config(tmp_path, drop="max_segments"), environ={})
    assert cfg.sms.max_segments == 2


@pytest.mark.parametrize("key, value, problem", [
    ("wechat.max_body_bytes", 0, "must be at least 1"),
    ("wechat.max_body_bytes", "64k", "expected int"),
    ("wechat.reply_budget_seconds", 0, "must be more than 0"),
    ("sms.send_timeout_seconds", -1, "must be more than 0"),
    ("worker.batch_size", True, "expected int"),
    ("worker.batch_sise", 3, "unknown setting"),
    ("sms.api_base", "http://api.twilio.com", "must be an https URL"),
    ("workbench.max_body_bytes", 0, "must be at least 1"),
    ("outbox.sms_per_second", 0, "must be more than 0"),
    ("outbox.wechat_per_second", "fast", "expected float"),
    ("outbox.sms_segment_yuan", -0.05, "must be at least 0"),
    ("outbox.sms_segment_price", 0.05, "unknown setting"),
])
def test_a_wrong_channel_setting_names_the_file_and_key(key, value, problem):
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "config.toml", overrides={key: value}, environ={})
    assert err.value.key == key
    assert str(err.value).startswith(f"config.toml: {key}: {problem}")
