"""The broadcast pages: route × role, compose with placeholders, the preview's audience and cost,
approval by a second account, progress, retry of the failed and results per township."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from bot.config import OutboxSettings
from bot.outbox import PermanentFailure, Policy, Sent, deliver_due
from bot.publicity import broadcast as bc
from bot.storage.models import Broadcast
from bot.subscriptions import SUBSCRIBED, change, outbox_refusal
from handlers.sms_text import segments
from tests.workbench.documents_support import add_account, csrf_of, log_in
from web.app import create_app

PHONES = ["+8613800000011", "+8613800000012"]


@pytest.fixture
def app(runtime):
    app = create_app(runtime)
    add_account(runtime, "cw-jiangbei", "caseworker", ["江背镇"])
    add_account(runtime, "county", "supervisor")
    add_account(runtime, "county2", "supervisor")
    add_account(runtime, "root", "admin")
    return app


def client_for(app, username):
    client = app.test_client()
    log_in(client, username)
    return client


def subscribers(runtime, township="江背镇"):
    with runtime.db.unit_of_work() as s:
        for phone in PHONES:
            change(s, runtime, "sms", phone, "dibao", SUBSCRIBED, wording="确认", source="subscribe",
                   township=township)


def post(client, path, data, page=None):
    token = csrf_of(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def compose(client, **fields):
    data = {"title": "新一年低保标准调整", "body": "农村低保标准调整为每人每月{dibao_rural}元。", "topic": "dibao",
            "township": "江背镇", "channels": ["wechat", "sms"], **fields}
    response = post(client, "/workbench/broadcasts/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


@pytest.mark.parametrize("who", ["cw-jiangbei", "county", "root"])
@pytest.mark.parametrize("path", ["/workbench/broadcasts", "/workbench/broadcasts/new"])
def test_every_account_may_open_the_broadcast_pages(app, who, path):
    assert client_for(app, who).get(path).status_code == 200


@pytest.mark.parametrize("who, status", [("cw-jiangbei", 403), ("county2", 302), ("root", 302)])
def test_only_a_county_account_approves(app, runtime, who, status):
    page = compose(client_for(app, "county"))
    response = post(client_for(app, who), page + "/approve", {}, page=page if status != 403 else
                    "/workbench/broadcasts")
    assert response.status_code == status


def test_anonymous_is_sent_to_the_login(app):
    assert "/workbench/login" in app.test_client().get("/workbench/broadcasts").headers["Location"]


def test_a_caseworker_drafts_for_their_township_only_and_cannot_see_others(app, runtime):
    caseworker = client_for(app, "cw-jiangbei")
    response = post(caseworker, "/workbench/broadcasts/new",
                    {"title": "t", "body": "b", "topic": "dibao", "township": "", "channels": "sms"})
    assert response.status_code == 200 and "只能给本乡镇" in response.get_data(as_text=True)
    other = compose(client_for(app, "county"), township="潋江镇")
    assert caseworker.get(other).status_code == 404


def test_an_unknown_placeholder_is_refused_with_its_name(app):
    client = client_for(app, "county")
    response = post(client, "/workbench/broadcasts/new", {"title": "t", "body": "标准{dibao_cun}元", "topic": "dibao",
                                                          "township": "", "channels": "sms"})
    assert "{dibao_cun}" in response.get_data(as_text=True)


def test_preview_audience_approval_progress_retry_and_results(app, runtime):
    subscribers(runtime)
    drafter, approver = client_for(app, "cw-jiangbei"), client_for(app, "county")
    page = compose(drafter)
    html = drafter.get(page).get_data(as_text=True)
    assert "农村低保标准调整为每人每月720元" in html and "回T退订" in html
    assert "微信 0 / 短信 2 / 无法送达 0" in html and "条计费短信" in html and "还没有标记为已核实" in html
    assert "审批并排队发送" not in html  # the drafter cannot approve it
    assert "审批并排队发送" in approver.get(page).get_data(as_text=True)
    response = post(approver, page + "/approve", {}, page=page)
    assert "2 位订阅者已排队发送" in approver.get(response.headers["Location"]).get_data(as_text=True)

    class Flaky:  # the second number fails once
        max_seconds = 1.0

        def __init__(self):
            self.sent, self.failed = [], False

        def send(self, recipient, body):
            if recipient == PHONES[1] and not self.failed:
                self.failed = True
                raise PermanentFailure("provider error 30006")
            self.sent.append(recipient)
            return Sent(provider_id="SMx", segments=1)

    sender = Flaky()
    noon = dt.datetime.now(dt.timezone.utc).replace(hour=4, minute=0) + dt.timedelta(days=1)
    deliver_due(runtime, {"sms": sender}, outbox_refusal(runtime), Policy(), now=noon)
    html = approver.get(page).get_data(as_text=True)
    assert "部分发送" in html and "重发失败的 1 条" in html
    post(approver, page + "/retry", {}, page=page)
    deliver_due(runtime, {"sms": sender}, outbox_refusal(runtime), Policy(), now=noon)
    assert sorted(sender.sent) == sorted(PHONES)  # each once
    html = approver.get(page).get_data(as_text=True)
    assert "已发完" in html and "重发失败" not in html
    assert "<td>江背镇</td><td>0</td><td>2</td><td>0</td><td>0</td>" in html  # per township: sent 2, failed 0
    with runtime.db.unit_of_work() as s:  # a question on 低保 afterwards, and one on another topic
        runtime.insight.record(s, "question.answered", "sms", "dibao.standard", township="江背镇")
        runtime.insight.record(s, "question.answered", "sms", "tekun.support", township="江背镇")
    html = approver.get(page).get_data(as_text=True)
    assert "<td>江背镇</td><td>0</td><td>2</td><td>0</td><td>1</td>" in html  # the 低保 question counts, the 特困 one does not
    with runtime.db.unit_of_work() as s:
        assert s.execute(select(Broadcast.approver)).scalar_one() == "county"


def test_the_preview_prices_sms_with_the_configured_segment_estimate(app, runtime):
    runtime.config = dataclasses.replace(runtime.config, outbox=OutboxSettings(sms_segment_yuan=0.12))
    subscribers(runtime)
    drafter = client_for(app, "cw-jiangbei")
    html = drafter.get(compose(drafter)).get_data(as_text=True)
    with runtime.db.unit_of_work() as s:
        count = segments(bc.message_for(runtime, s.execute(select(Broadcast)).scalar_one(), "sms"))
    assert "每条 0.12 元估算" in html
    assert f"预计短信费用约 {2 * count * 0.12:.2f} 元" in html
