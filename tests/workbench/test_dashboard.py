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
