"""The WeChat API client: the shared access token, its refresh, and the menu definition."""
from __future__ import annotations

import datetime as dt
import socket

import pytest
from sqlalchemy import select

from bot.config import load_config
from bot.errors import ConfigError
from bot.storage.models import ApiToken, utcnow
from handlers.wechat_api import WeChatApi, WeChatApiError, menu_of
from tests.conftest import ROOT
from tests.handlers.conftest import APP_ID, APP_SECRET

MENU = {"button": [{"type": "click", "name": "申请预审", "key": "APPLY", "text": "申请"}]}


@pytest.fixture
def api(runtime, fake_wechat_api) -> WeChatApi:
    """A client on the test database, talking to the local fake WeChat API."""
    return WeChatApi(runtime.db, APP_ID, APP_SECRET, fake_wechat_api.url, timeout=5)


def stored(api: WeChatApi) -> ApiToken:
    with api.db.session() as s:
        row = s.execute(select(ApiToken).where(ApiToken.name == f"wechat:{APP_ID}")).scalar_one()
        s.expunge(row)
        return row


def test_token_is_fetched_once_and_stored(api, fake_wechat_api):
    assert api.access_token() == api.access_token() == "ACCESS-1"
    assert len(fake_wechat_api.token_requests()) == 1
    row = stored(api)
    assert row.value == "ACCESS-1"
    expires = row.expires_at.replace(tzinfo=row.expires_at.tzinfo or dt.timezone.utc)
    assert dt.timedelta(minutes=119) < expires - utcnow() <= dt.timedelta(hours=2)


def test_token_is_refreshed_five_minutes_before_expiry(api, fake_wechat_api):
    api.access_token()
    for minutes_left, expected in [(6, "ACCESS-1"), (4, "ACCESS-2")]:
        with api.db.session() as s:
            s.execute(select(ApiToken)).scalar_one().expires_at = utcnow() + dt.timedelta(minutes=minutes_left)
        assert api.access_token() == expected
    assert len(fake_wechat_api.token_requests()) == 2


def test_a_refused_token_is_replaced_and_the_call_retried(api, fake_wechat_api):
    api.access_token()
    fake_wechat_api.reject_tokens.add("ACCESS-1")      # e.g. reset in the WeChat console
    api.create_menu(menu_of(MENU)[0])
    menu_calls = [q["access_token"] for p, q, _ in fake_wechat_api.requests if p == "/cgi-bin/menu/create"]
    assert menu_calls == ["ACCESS-1", "ACCESS-2"]
    assert stored(api).value == "ACCESS-2"


def test_errors_never_carry_the_secret(runtime, fake_wechat_api):
    api = WeChatApi(runtime.db, APP_ID, "wrong-secret-value", fake_wechat_api.url, timeout=5)
    with pytest.raises(WeChatApiError) as info:
        api.access_token()
    assert "40125" in str(info.value) and "wrong-secret-value" not in str(info.value)


def test_unreachable_api_is_a_clear_error(runtime):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = WeChatApi(runtime.db, APP_ID, APP_SECRET, f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(WeChatApiError, match="unreachable") as info:
        api.access_token()
    assert APP_SECRET not in str(info.value)


def test_missing_credentials_are_a_config_error(runtime):
    with pytest.raises(ConfigError, match="JIUZHU_WECHAT_APP_ID"):
        WeChatApi.from_runtime(runtime)


@pytest.mark.parametrize("base, ok", [("https://api.weixin.qq.com", True), ("http://127.0.0.1:9", True),
                                      ("http://api.weixin.qq.com", False), ("ftp://x", False)])
def test_api_base_is_https_or_local(base, ok):
    if ok:
        assert load_config(ROOT / "config.toml", overrides={"wechat.api_base": base + "/"},
                           environ={}).wechat.api_base == base
    else:
        with pytest.raises(ConfigError, match="wechat.api_base"):
            load_config(ROOT / "config.toml", overrides={"wechat.api_base": base}, environ={})


def test_menu_of_the_project_config(config):
    menu, texts = menu_of(config.wechat.menu)
    assert texts == {"DIBAO": "低保是什么", "TEKUN": "特困是什么", "LINSHI": "临时救助是什么",
                     "YILIAO": "医疗救助是什么", "SUBSCRIBE": "订阅", "APPLY": "申请", "PROGRESS": "查进度"}
    assert len(menu["button"]) == 3


@pytest.mark.parametrize("button, problem", [
    ({"type": "click", "name": "申请", "key": "APPLY"}, "text"),
    ({"type": "click", "name": "这个按钮名字实在太长了", "key": "K", "text": "t"}, "name"),
    ({"type": "miniprogram", "name": "小程序"}, "type"),
    ({"name": "空", "sub_button": []}, "sub-buttons"),
])
def test_menu_mistakes_are_config_errors(button, problem):
    with pytest.raises(ConfigError, match=problem):
        menu_of({"button": [button]})


def test_menu_keys_must_be_unique_and_buttons_few():
    twice = {"type": "click", "name": "a", "key": "K", "text": "t"}
    with pytest.raises(ConfigError, match="twice"):
        menu_of({"button": [twice, dict(twice, name="b")]})
    with pytest.raises(ConfigError, match="at most 3"):
        menu_of({"button": [dict(twice, key=str(i)) for i in range(4)]})
