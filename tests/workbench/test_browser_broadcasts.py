"""In a real browser: a township caseworker composes a notice, sees the preview (WeChat, SMS,
audience, cost), the county approves it, the worker sends it with one failure, the county retries
it. Screenshots under tests/artifacts/browser/ (broadcast-*.png) for a person to look at."""
from __future__ import annotations

import datetime as dt

from bot.outbox import PermanentFailure, Policy, Sent, deliver_due
from handlers.wechat_mass import deliver_routed
from bot.subscriptions import SUBSCRIBED, change, outbox_refusal
from tests.workbench.documents_support import PASSWORD, add_account
from tests.workbench.test_browser import browser, live, shot  # noqa: F401 — chromium and the live server

PHONES = ["+8613800000021", "+8613800000022", "+8613800000023"]


class Flaky:
    """Refuses the last number once, like a carrier's temporary block."""

    max_seconds = 1.0
    mass_batch_size = 10000  # as a WeChat sender: the lone 群发 follower goes as a customer-service message

    def __init__(self):
        self.sent, self.failed = [], False

    def send(self, recipient, body):
        if recipient == PHONES[-1] and not self.failed:
            self.failed = True
            raise PermanentFailure("provider error 30006")
        self.sent.append(recipient)
        return Sent(provider_id=f"SM{len(self.sent)}", segments=2)


def log_in(browser, live, username):
    page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{live}/workbench/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    return page


def test_compose_preview_approve_send_and_retry(runtime, live, browser):
    add_account(runtime, "cw-jiangbei", "caseworker", ["江背镇"])
    add_account(runtime, "county", "supervisor")
    with runtime.db.unit_of_work() as s:
        for phone in PHONES:
            change(s, runtime, "sms", phone, "dibao", SUBSCRIBED, wording="确认", source="subscribe",
                   township="江背镇")
        change(s, runtime, "wechat", "oJZ_browser_0001", "dibao", SUBSCRIBED, wording="订阅", source="subscribe")

    page = log_in(browser, live, "cw-jiangbei")
    page.click("nav a:has-text('政策通知')")
    page.click("a:has-text('写一条新通知')")
    page.fill("input[name=title]", "新一年低保标准调整")
    page.fill("textarea[name=body]", "自{standards_effective}起，农村低保标准提高到每人每月{dibao_rural}元，"
                                     "城市低保{dibao_urban}元。有疑问请拨{assistance_hotline}。")
    page.select_option("select[name=township]", "江背镇")
    shot(page, "broadcast-1-compose")
    page.click("button:has-text('保存草稿并预览')")
    body = page.inner_text("body")
    assert "农村低保标准提高到每人每月720元" in body and "回T退订" in body
    assert "微信 1 / 短信 3 / 无法送达 0" in body and "微信群发：1 人" in body
    assert "审批并排队发送" not in body
    shot(page, "broadcast-2-preview")
    url = page.url

    county = log_in(browser, live, "county")
    county.goto(url)
    county.click("button:has-text('审批并排队发送')")
    assert "4 位订阅者已排队发送" in county.inner_text("body")
    noon = dt.datetime.now(dt.timezone.utc).replace(hour=4, minute=0) + dt.timedelta(days=1)
    sender, wechat = Flaky(), Flaky()
    deliver_routed(runtime, wechat, Policy(), now=noon)  # the worker's 群发 step, before its next round
    deliver_due(runtime, {"sms": sender, "wechat": wechat}, outbox_refusal(runtime), Policy(), now=noon)
    county.reload()
    body = county.inner_text("body")
    assert "部分发送" in body and "已发出 3 · 已送达 0 · 失败 1" in body
    shot(county, "broadcast-3-partly-sent")
    county.click("button:has-text('重发失败的 1 条')")
    deliver_due(runtime, {"sms": sender, "wechat": wechat}, outbox_refusal(runtime), Policy(), now=noon)
    county.reload()
    assert sorted(sender.sent) == sorted(PHONES) and wechat.sent == ["oJZ_browser_0001"]  # each once
    assert "已发完" in county.inner_text("body")
    shot(county, "broadcast-4-sent")
