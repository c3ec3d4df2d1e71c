"""GET /workbench/dashboard, its CSVs and the flow page, for each role: scope, suppression, no personal data."""
import csv
import datetime as dt
import io

import pytest

from bot.storage.models import InsightEvent
from tests.workbench.documents_support import HOUSEHOLD, add_account, add_lead, log_in
from web.app import create_app

ROUTES = ("/workbench/dashboard", "/workbench/dashboard/topics.csv", "/workbench/dashboard/funnel.csv",
          "/workbench/dashboard/leads.csv", "/workbench/dashboard/flow")


@pytest.fixture
def app(runtime):
    app = create_app(runtime)
    add_account(runtime, "cw-chongxian", "caseworker", ["崇贤乡"])
    add_account(runtime, "county", "supervisor")
    add_account(runtime, "root", "admin")
    today = dt.datetime.now(dt.timezone.utc).date()
    with runtime.db.unit_of_work() as s:
        for township, n in (("崇贤乡", 8), ("梅窖镇", 13)):
            s.add_all(InsightEvent(day=today, kind="question.answered", subject="dibao.what", channel="sms",
                                   township=township) for _ in range(n))
            s.add_all(InsightEvent(day=today, kind="question.unanswered", subject="dibao.what", channel="sms",
                                   township=township) for _ in range(2))
            s.add_all(InsightEvent(day=today, kind="screening.abandoned", subject="household_monthly_income",
                                   channel="wechat", township=township, age_band="60-79") for _ in range(n))
    for i in range(5):
        add_lead(runtime, "梅窖镇", name=f"梅户{i}", id_number=f"3607321979091521{i:02d}")
    add_lead(runtime, "崇贤乡")
    return app


def client_for(app, username):
    client = app.test_client()
    log_in(client, username)
    return client


def read_csv(response):
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("username", ["cw-chongxian", "county", "root"])
@pytest.mark.parametrize("route", ROUTES)
def test_every_role_reaches_every_dashboard_route(app, username, route):
    response = client_for(app, username).get(route)
    assert response.status_code == 200
    if route.endswith(".csv"):
        assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]


@pytest.mark.parametrize("route", ROUTES)
def test_without_a_session_the_dashboard_sends_to_login(app, route):
    response = app.test_client().get(route)
    assert response.status_code == 302 and "/workbench/login" in response.headers["Location"]


def test_a_caseworker_sees_their_township_and_the_county_sees_all(app):
    mine = read_csv(client_for(app, "cw-chongxian").get("/workbench/dashboard/townships.csv"))
    county = read_csv(client_for(app, "county").get("/workbench/dashboard/townships.csv"))
    assert [row[0] for row in mine[2:]] == ["崇贤乡"]
    assert [row[:2] for row in county[2:]] == [["梅窖镇", "15"], ["崇贤乡", "10"]]
    # asking for another township by URL gives nothing of it
    other = client_for(app, "cw-chongxian").get("/workbench/dashboard?township=梅窖镇").get_data(as_text=True)
    assert "梅窖镇" not in other.split("<main>")[1]


def test_small_cells_read_less_than_five_on_the_page_and_in_the_csv(app):
    rows = read_csv(client_for(app, "county").get("/workbench/dashboard/townships.csv"))
    header, chongxian = rows[1], rows[3]
    assert chongxian[header.index("答不上")] == "<5"
    leads = read_csv(client_for(app, "cw-chongxian").get("/workbench/dashboard/leads.csv"))
    new = next(row for row in leads[2:] if row[0] == "新线索")
    assert new[1] == "<5"                               # one household in 崇贤乡
    page = client_for(app, "county").get("/workbench/dashboard").get_data(as_text=True)
    assert "&lt;5" in page and "<svg" in page and "<script" not in page


def test_no_personal_data_reaches_the_dashboard(app):
    client = client_for(app, "county")
    bodies = [client.get(route).get_data(as_text=True) for route in ROUTES]
    bodies += [client.get(f"/workbench/dashboard/{key}.csv").get_data(as_text=True)
               for key in ("townships", "weeks", "steps", "contact", "caseworkers")]
    for body in bodies:
        for value in (HOUSEHOLD["name"], HOUSEHOLD["id_number"], HOUSEHOLD["phone"], "梅户0"):
            assert value not in body


def test_the_funnel_names_the_step_and_links_the_flow(app):
    page = client_for(app, "county").get("/workbench/dashboard").get_data(as_text=True)
    assert "放弃最多的一步" in page and "/workbench/dashboard/flow" in page
    flow = client_for(app, "county").get("/workbench/dashboard/flow").get_data(as_text=True)
    assert 'class="worst"' in flow


def test_an_unknown_table_is_404(app):
    assert client_for(app, "county").get("/workbench/dashboard/nothing.csv").status_code == 404


def add_broadcast(runtime, reached: dict[str, int], failed: dict[str, int]) -> None:
    """A 低保 notice approved this morning, its recipients per township delivered or cancelled."""
    from bot.storage.models import Broadcast, BroadcastRecipient, OutboxMessage, utcnow

    now = utcnow()
    with runtime.db.unit_of_work() as s:
        notice = Broadcast(campaign_id="bc-dash", title="新一年低保标准调整", body="…", topic="dibao", township=None,
                           channels="sms", status="approved", author="zhang", approver="li", send_at=now,
                           approved_at=now, created_at=now, updated_at=now)
        s.add(notice)
        s.flush()
        n = 0
        for outcome, per_township in (("sent", reached), ("cancelled", failed)):
            for township, count in per_township.items():
                for _ in range(count):
                    n += 1
                    row = OutboxMessage(channel="sms", recipient_key=f"k{n}", recipient_ref=b"x", body=b"x",
                                        status=outcome, provider_status="delivered" if outcome == "sent" else None,
                                        attempts=1, next_attempt_at=now, kind="broadcast", campaign_id="bc-dash",
                                        idempotency_key=f"bc-dash:{n}", created_at=now, updated_at=now)
                    s.add(row)
                    s.flush()
                    s.add(BroadcastRecipient(broadcast_id=notice.id, channel="sms", route="sms", recipient_key=f"k{n}",
                                             township=township, planned_at=now, outbox_id=row.id))
                    # the outbox counts each final outcome as an event (bot/outbox.py _count)
                    s.add(InsightEvent(day=now.date(), kind=f"outbox.{outcome}", subject="broadcast", channel="sms",
                                       campaign="bc-dash"))


def test_broadcasts_show_reach_in_scope_and_the_questions_that_followed(app, runtime):
    add_broadcast(runtime, reached={"梅窖镇": 7, "崇贤乡": 3}, failed={"崇贤乡": 2})
    county = read_csv(client_for(app, "county").get("/workbench/dashboard/broadcasts.csv"))
    header, (row,) = county[1], county[2:]
    values = dict(zip(header, row))
    assert values["通知"] == "新一年低保标准调整" and values["主题"] == "低保"
    # 10 sent; 2 not sent is under 5 households: hidden; the topic's 25 questions this week
    assert (values["已发出"], values["未发出"], values["后一周问题"], values["前一周问题"]) == ("10", "<5", "25", "0")
    mine = dict(zip(header, read_csv(client_for(app, "cw-chongxian").get("/workbench/dashboard/broadcasts.csv"))[2]))
    assert (mine["已发出"], mine["后一周问题"]) == ("<5", "10")  # only 崇贤乡's recipients and questions
    page = client_for(app, "county").get("/workbench/dashboard").get_data(as_text=True)
    assert "新一年低保标准调整" in page and "政策通知" in page
