"""Broadcasts to WeChat followers by 群发 (mass/send by OpenID list) and 模板消息, against the fake
WeChat API: ceil(N / batch) calls and never one of a single follower, MASSSENDJOBFINISH's counts on
the results page, quotas waited out, a timeout left "unknown" and never sent again, failures
partly sent with a working retry — on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.commands.worker import run_worker
from bot.config import load_config
from bot.outbox import Policy
from bot.publicity import broadcast as bc
from bot.publicity.results import results_of
from bot.runtime import Runtime
from bot.storage.models import Broadcast, BroadcastRecipient, MassJob, OutboxMessage
from bot.subscriptions import SUBSCRIBED, change, outbox_refusal, stop_everything
from handlers.senders import WechatSender
from handlers.wechat_mass import deliver_routed
from tests.conftest import ROOT
from tests.handlers.conftest import (CUSTOM_SEND, MASS_SEND, TEMPLATE_SEND, FakeWeChat, FakeWeChatApi,
                                     wechat_environ)
from tests.workbench.documents_support import add_account, log_in
from web.app import create_app


@pytest.fixture
def fake_api():
    api = FakeWeChatApi()
    api.thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()
    api.thread.join(5)


@pytest.fixture
def county(any_db_url, shared_runtime, fake_api):
    """A deployment talking to the fake WeChat API; `make(**overrides)` for another config."""
    made = []

    def make(**overrides):
        rt = Runtime(load_config(ROOT / "config.toml", overrides={"wechat.api_base": fake_api.url, **overrides},
                                 environ=wechat_environ(any_db_url)), kb=shared_runtime.kb, matcher=shared_runtime.matcher)
        made.append(rt)
        sender = WechatSender.from_runtime(rt)
        sender.api.timeout = 0.5  # the fake's stall (1.5 s) is a timeout after the request went out
        return SimpleNamespace(rt=rt, api=fake_api, sender=sender, wechat=FakeWeChat(create_app(rt), rt))

    yield make
    for rt in made:
        rt.db.dispose()


def followers(rt, n: int, topic: str = "dibao") -> list[str]:
    """n followers subscribed to the topic who never wrote (so no 48 h window: 群发)."""
    openids = [f"oJZ_follower_{i:05d}" for i in range(n)]
    with rt.db.unit_of_work() as s:
        for openid in openids:
            change(s, rt, "wechat", openid, topic, SUBSCRIBED, wording="订阅", source="subscribe")
    return openids


def broadcast(rt, title: str = "新一年低保标准调整", now: dt.datetime | None = None, send_at=None) -> int:
    with rt.db.unit_of_work() as s:
        b = bc.create(s, rt, "zhang", title, "自{standards_effective}起，农村低保标准为每人每月{dibao_rural}元。",
                      "dibao", None, ["wechat"], send_at=send_at)
        bc.approve(s, rt, b, "li", now=now or bc.utcnow())
        return b.id


def work(c) -> Counter:
    """`jiuzhu worker --once` with this sender."""
    return Counter(run_worker(c.rt, {"wechat": c.sender}, outbox_refusal(c.rt), once=True))


def state(rt, broadcast_id: int):
    with rt.db.unit_of_work() as s:
        return bc.progress(s, s.get(Broadcast, broadcast_id))


def rows(rt, broadcast_id: int) -> list[OutboxMessage]:
    with rt.db.session() as s:
        found = s.execute(select(OutboxMessage).join(BroadcastRecipient, BroadcastRecipient.outbox_id == OutboxMessage.id)
                          .where(BroadcastRecipient.broadcast_id == broadcast_id).order_by(OutboxMessage.id)).scalars().all()
        s.expunge_all()
        return found


def page_of(c, broadcast_id: int) -> str:
    """The broadcast's workbench page as a county supervisor sees it."""
    add_account(c.rt, "county", "supervisor")
    client = c.wechat.app.test_client()
    log_in(client, "county")
    return client.get(f"/workbench/broadcasts/{broadcast_id}").get_data(as_text=True)


@pytest.mark.parametrize("n, batch, sizes", [(7, 3, [3, 2, 2]), (4, 3, [2, 2]), (5, 10000, [5])])
def test_a_broadcast_to_n_followers_is_ceil_n_over_batch_mass_calls(county, n, batch, sizes):
    c = county()
    c.sender.mass_batch_size = batch
    openids = followers(c.rt, n)
    broadcast_id = broadcast(c.rt)
    assert state(c.rt, broadcast_id)[0] == "sending"
    assert work(c) == Counter({"sent": n})
    calls = c.api.calls(MASS_SEND)
    assert len(calls) == math.ceil(n / batch) and sorted(len(call["touser"]) for call in calls) == sorted(sizes)
    assert sorted(o for call in calls for o in call["touser"]) == openids  # everyone once
    with c.rt.db.unit_of_work() as s:
        text = bc.message_for(c.rt, s.get(Broadcast, broadcast_id), "wechat")
    assert all(call["msgtype"] == "text" and call["text"] == {"content": text} for call in calls)
    assert c.api.calls(CUSTOM_SEND) == []
    assert {r.provider_id for r in rows(c.rt, broadcast_id)} == {str(1000000001 + i) for i in range(len(calls))}
    assert state(c.rt, broadcast_id) == ("sent", Counter({"sent": n}))
    assert work(c) == Counter() and len(c.api.calls(MASS_SEND)) == len(calls)  # nobody twice


def test_masssendjobfinish_counts_show_on_the_results_page(county):
    c = county()
    c.sender.mass_batch_size = 3
    followers(c.rt, 5)
    broadcast_id = broadcast(c.rt)
    work(c)
    with c.rt.db.session() as s:
        jobs = {job.recipients: job.msg_id for job in s.execute(select(MassJob)).scalars()}
    assert sorted(jobs) == [2, 3]
    for accepted, (status, sent, errors) in {3: ("send success", 3, 0), 2: ("send success", 1, 1)}.items():
        reply = c.wechat.send("event", openid="oJZ_system", Event="MASSSENDJOBFINISH", MsgID=jobs[accepted],
                              Status=status, TotalCount=str(accepted), FilterCount="0", SentCount=str(sent),
                              ErrorCount=str(errors))
        assert reply == ""  # WeChat's empty "success"
    with c.rt.db.unit_of_work() as s:
        mass = results_of(s, c.rt, s.get(Broadcast, broadcast_id))["mass"]
    assert (mass["accepted"], mass["sent"], mass["errors"], mass["waiting"]) == (5, 4, 1, 0)
    page = page_of(c, broadcast_id)
    assert "微信已接受 5 人 · 已发出 4 · 被过滤 0 · 发送失败 1" in page and jobs[3] in page


def test_a_used_up_quota_on_mass_waits_then_sends_once(county):
    c = county()
    followers(c.rt, 3)
    broadcast_id = broadcast(c.rt)
    c.api.answers[MASS_SEND] = [45009]
    now = bc.utcnow()
    assert deliver_routed(c.rt, c.sender, Policy(), now=now) == Counter({"queued": 3})
    assert state(c.rt, broadcast_id)[0] == "scheduled"  # every row waits for its next try
    assert deliver_routed(c.rt, c.sender, Policy(), now=now + dt.timedelta(minutes=30)) == Counter()
    assert deliver_routed(c.rt, c.sender, Policy(), now=now + dt.timedelta(minutes=61)) == Counter({"sent": 3})
    assert len(c.api.calls(MASS_SEND)) == 2 and state(c.rt, broadcast_id)[0] == "sent"


def test_a_mass_call_that_times_out_is_unknown_and_never_sent_again(county):
    c = county()
    followers(c.rt, 4)
    broadcast_id = broadcast(c.rt)
    c.api.stall.add(MASS_SEND)
    assert work(c) == Counter({"failed": 4})
    assert state(c.rt, broadcast_id) == ("partly_sent", Counter({"unknown": 4}))
    assert all(r.last_error.startswith("outcome unknown") for r in rows(c.rt, broadcast_id))
    c.api.stall.clear()
    with c.rt.db.unit_of_work() as s:
        assert bc.retry_failed(s, c.rt, s.get(Broadcast, broadcast_id)) == 0  # a person checks first
    assert work(c) == Counter() and len(c.api.calls(MASS_SEND)) == 1


def test_a_refused_batch_leaves_it_partly_sent_and_the_retry_sends_only_those(county):
    c = county()
    c.sender.mass_batch_size = 3
    openids = followers(c.rt, 5)
    broadcast_id = broadcast(c.rt)
    c.api.answers[MASS_SEND] = [40003]
    assert work(c) == Counter({"failed": 3, "sent": 2})
    assert state(c.rt, broadcast_id) == ("partly_sent", Counter({"failed": 3, "sent": 2}))
    with c.rt.db.unit_of_work() as s:
        failures = results_of(s, c.rt, s.get(Broadcast, broadcast_id))["failures"]
        assert failures == Counter({"WeChat errcode 40003: not a follower's openid": 3})
    page = page_of(c, broadcast_id)
    assert "部分发送" in page and "不是本公众号粉丝的 OpenID：3 人" in page and "重发失败的 3 条" in page
    with c.rt.db.unit_of_work() as s:
        assert bc.retry_failed(s, c.rt, s.get(Broadcast, broadcast_id)) == 3
    assert work(c) == Counter({"sent": 3})
    first, second, again = c.api.calls(MASS_SEND)
    assert sorted(again["touser"]) == sorted(first["touser"]) and not set(again["touser"]) & set(second["touser"])
    assert sorted(first["touser"] + second["touser"]) == openids
    assert state(c.rt, broadcast_id) == ("sent", Counter({"sent": 5}))


def test_a_lone_follower_is_sent_a_customer_service_message_then_the_template(county):
    c = county(**{"wechat.notice_template_id": "TPL-notice"})
    (openid,) = followers(c.rt, 1)
    broadcast_id = broadcast(c.rt)
    c.api.answers[CUSTOM_SEND] = [45015]  # never wrote: the window is closed
    assert work(c)["sent"] == 1
    assert c.api.calls(MASS_SEND) == []  # WeChat refuses a 群发 to one openid; nobody was added to it
    assert [call["touser"] for call in c.api.calls(CUSTOM_SEND)] == [openid]
    (template,) = c.api.calls(TEMPLATE_SEND)
    assert (template["touser"], template["data"]["thing1"]["value"]) == (openid, "新一年低保标准调整")
    assert state(c.rt, broadcast_id) == ("sent", Counter({"sent": 1}))


def test_once_the_mass_quota_is_used_up_the_notice_template_is_the_route(county):
    c = county(**{"wechat.notice_template_id": "TPL-notice"})
    (openid,) = followers(c.rt, 1)
    with c.rt.db.unit_of_work() as s:
        for i in range(4):
            bc.approve(s, c.rt, bc.create(s, c.rt, "zhang", f"通知{i}", "正文", "dibao", None, ["wechat"]), "li")
        routes = s.execute(select(BroadcastRecipient.route)).scalars().all()
    assert routes == [bc.MASS] * 4
    broadcast_id = broadcast(c.rt, title="第五条通知，标题很长很长很长很长很长很长很长")
    with c.rt.db.unit_of_work() as s:
        assert s.execute(select(BroadcastRecipient.route).where(
            BroadcastRecipient.broadcast_id == broadcast_id)).scalar_one() == bc.TEMPLATE
    c.api.answers[CUSTOM_SEND] = [45015] * 4  # the four lone 群发 rows go as customer-service messages
    work(c)
    (template,) = [call for call in c.api.calls(TEMPLATE_SEND) if call["data"]["thing1"]["value"].startswith("第五")]
    assert template["touser"] == openid and len(template["data"]["thing1"]["value"]) == 20
    assert state(c.rt, broadcast_id)[0] == "sent"


def test_the_four_a_month_rule_counts_the_month_a_notice_goes_out(county):
    c = county()
    followers(c.rt, 1)
    now = bc.utcnow()
    next_month = (now.replace(day=1) + dt.timedelta(days=32)).replace(day=2, hour=2)
    for i in range(4):
        broadcast(c.rt, title=f"下月通知{i}", now=now, send_at=next_month)
    with c.rt.db.unit_of_work() as s:
        b = bc.create(s, c.rt, "zhang", "本月通知", "正文", "dibao", None, ["wechat"])
        assert [p.route for p in bc.audience(s, c.rt, b, now).planned] == [bc.MASS]  # this month: none yet
        b.send_at = next_month + dt.timedelta(days=1)
        left = bc.audience(s, c.rt, b, now)
        assert (left.planned, left.unreachable) == ([], 1)  # next month already has four


def test_an_unfollow_after_planning_is_cancelled_not_mass_sent(county):
    c = county()
    first, *rest = followers(c.rt, 3)
    broadcast_id = broadcast(c.rt)
    with c.rt.db.unit_of_work() as s:
        stop_everything(s, c.rt, "wechat", first, wording="unsubscribe", source="wechat_event")
    work(c)
    (call,) = c.api.calls(MASS_SEND)
    assert sorted(call["touser"]) == rest
    assert Counter(r.status for r in rows(c.rt, broadcast_id)) == Counter({"sent": 2, "cancelled": 1})


def test_a_refused_token_is_renewed_once_and_the_batch_sent_once(county):
    c = county()
    followers(c.rt, 2)
    broadcast(c.rt)
    c.sender.api.access_token()
    c.api.reject_tokens.add("ACCESS-1")
    work(c)
    with c.rt.db.session() as s:
        assert s.execute(select(MassJob.recipients)).scalars().all() == [2]
    assert len(c.api.calls(MASS_SEND)) == 2 and len(c.api.token_requests()) == 2


def test_a_job_wechat_failed_as_a_whole_counts_its_followers_as_not_reached(county):
    c = county()
    followers(c.rt, 2)
    broadcast_id = broadcast(c.rt)
    work(c)
    (msg_id,) = [str(r.provider_id) for r in rows(c.rt, broadcast_id)][:1]
    for _ in range(2):  # WeChat may push it again: the same counts, nothing doubled
        c.wechat.send("event", openid="oJZ_system", Event="MASSSENDJOBFINISH", MsgID=msg_id, Status="err(10001)",
                      TotalCount="2", FilterCount="2", SentCount="0", ErrorCount="0")
    assert state(c.rt, broadcast_id) == ("partly_sent", Counter({"failed": 2}))
    with c.rt.db.unit_of_work() as s:
        result = results_of(s, c.rt, s.get(Broadcast, broadcast_id))
    assert (result["mass"]["accepted"], result["mass"]["filtered"], result["mass"]["sent"]) == (2, 2, 0)
    assert list(result["failures"]) == ["群发 job err(10001): WeChat sent it to nobody"]


def test_a_mass_batch_over_wechats_limit_is_a_config_error():
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="wechat.mass_batch_size"):
        load_config(ROOT / "config.toml", overrides={"wechat.mass_batch_size": 10001},
                    environ={"JIUZHU_DATABASE_URL": "sqlite://"})
    assert load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": "sqlite://"}).wechat.mass_batch_size == 10000
