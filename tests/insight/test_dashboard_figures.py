"""The dashboard's figures: scope enforced in the queries, cells under 5 households hidden."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bot.accounts.roles import Actor
from bot.insight import dashboard as figures
from bot.insight.dashboard import SUPPRESSED, Scope
from bot.insight.rollup import fold_day
from bot.storage.models import InsightEvent
from tests.workbench.documents_support import add_lead

TODAY = dt.date.today()
WEEK_AGO = TODAY - dt.timedelta(days=7)


def put(runtime, n: int, kind: str, subject=None, township=None, channel="sms", age_band=None, day=TODAY):
    with runtime.db.unit_of_work() as s:
        s.add_all(InsightEvent(day=day, kind=kind, subject=subject, channel=channel, township=township,
                               age_band=age_band) for _ in range(n))


def by_key(rows):
    return {r["key"]: r for r in rows}


def test_a_caseworker_reads_only_events_of_their_townships(runtime):
    put(runtime, 7, "question.answered", "dibao.what", township="崇贤乡")
    put(runtime, 9, "question.answered", "dibao.what", township="梅窖镇")
    put(runtime, 11, "question.answered", "dibao.what")        # no township known: the county's only
    caseworker = Scope.of(Actor(1, "cw", "caseworker", frozenset({"崇贤乡"})))
    county = Scope.of(Actor(2, "boss", "supervisor", None))
    with runtime.db.unit_of_work() as s:
        mine = by_key(figures.questions(s, caseworker, WEEK_AGO, TODAY, "subject"))
        all_ = by_key(figures.questions(s, county, WEEK_AGO, TODAY, "subject"))
        towns = by_key(figures.questions(s, caseworker, WEEK_AGO, TODAY, "township"))
        # a township outside the caseworker's scope asked for by the page: nothing, not that township
        other = figures.questions(s, caseworker.narrowed("梅窖镇"), WEEK_AGO, TODAY, "subject")
    assert mine["dibao.what"]["total"] == 7
    assert all_["dibao.what"]["total"] == 27
    assert set(towns) == {"崇贤乡"}
    assert other == []


def test_an_admin_reads_the_county(runtime):
    assert Scope.of(Actor(3, "root", "admin", frozenset())).county


def test_cells_under_five_are_hidden_and_a_lone_hidden_cell_takes_the_next_smallest_with_it(runtime):
    put(runtime, 20, "question.answered", "dibao.what")
    put(runtime, 3, "question.unanswered", "dibao.what")
    put(runtime, 6, "question.offered", "dibao.what")
    put(runtime, 2, "question.answered", "tekun.what")
    county = Scope(None)
    with runtime.db.unit_of_work() as s:
        rows = by_key(figures.questions(s, county, WEEK_AGO, TODAY, "subject"))
    dibao, tekun = rows["dibao.what"], rows["tekun.what"]
    assert dibao["total"] == 29 and dibao["answered"] == 20
    # 3 unanswered is hidden; so is 6 offered, or 29 − 20 would give the 3 away
    assert dibao["unanswered"] == SUPPRESSED and dibao["offered"] == SUPPRESSED
    assert dibao["unanswered_rate"] == SUPPRESSED
    assert tekun["total"] == SUPPRESSED and tekun["answered_rate"] == SUPPRESSED


def test_a_choice_taken_counts_as_answered_and_folded_days_read_like_raw_ones(runtime):
    put(runtime, 12, "question.offered", "dibao.what", day=WEEK_AGO)
    put(runtime, 6, "question.chosen", "dibao.what", day=WEEK_AGO)
    with runtime.db.unit_of_work() as s:
        before = by_key(figures.questions(s, Scope(None), WEEK_AGO, TODAY, "subject"))
    with runtime.db.unit_of_work() as s:
        fold_day(s, WEEK_AGO, through=s.scalar(select(func.max(InsightEvent.id))))
    with runtime.db.unit_of_work() as s:
        after = by_key(figures.questions(s, Scope(None), WEEK_AGO, TODAY, "subject"))
        weeks = figures.questions(s, Scope(None), WEEK_AGO, TODAY, "week")
    assert before == after
    assert after["dibao.what"]["answered"] == 6 and after["dibao.what"]["answered_rate"] == 50.0
    assert weeks[0]["key"].weekday() == 0        # weeks start on Monday


def test_the_funnel_names_the_step_where_most_give_up_per_channel_and_age_band(runtime):
    put(runtime, 12, "screening.started", "consent", township="崇贤乡", age_band="60-79")
    put(runtime, 12, "screening.asked", "household_monthly_income", township="崇贤乡", age_band="60-79")
    put(runtime, 7, "screening.abandoned", "household_monthly_income", township="崇贤乡", age_band="60-79")
    put(runtime, 5, "screening.submitted", "confirm", township="崇贤乡", age_band="60-79")
    put(runtime, 30, "screening.started", "consent", township="梅窖镇", channel="wechat")
    put(runtime, 30, "screening.abandoned", "consent", township="梅窖镇", channel="wechat")
    caseworker = Scope(frozenset({"崇贤乡"}))
    with runtime.db.unit_of_work() as s:
        mine = figures.funnel(s, caseworker, WEEK_AGO, TODAY)
        county = figures.funnel(s, Scope(None), WEEK_AGO, TODAY)
    assert mine["cohorts"] == [{"channel": "sms", "age_band": "60-79", "n": 12, "started": 12, "submitted": 5,
                                "abandoned": 7, "completion": 41.7, "gives_up_at": "household_monthly_income"}]
    assert mine["worst"] == "household_monthly_income"
    assert county["worst"] == "consent"
    income = next(r for r in mine["steps"] if r["step"] == "household_monthly_income")
    assert income["dropout"] == 58.3


def test_lead_figures_are_scoped_and_small_counts_hidden(runtime):
    for i in range(6):
        add_lead(runtime, "崇贤乡", name=f"户{i}", id_number=f"3607321979091521{i:02d}")
    add_lead(runtime, "梅窖镇")
    caseworker = Scope(frozenset({"梅窖镇"}))
    now = dt.datetime.now(dt.timezone.utc)
    since = now - dt.timedelta(days=30)
    with runtime.db.unit_of_work() as s:
        county_status = {r["status"]: r for r in figures.leads_by_status_and_age(s, Scope(None), now)}
        mine_status = {r["status"]: r for r in figures.leads_by_status_and_age(s, caseworker, now)}
        mine_contact = figures.first_contact(s, caseworker, since)
        county_load = figures.open_per_caseworker(s, Scope(None))
    assert county_status["new"]["total"] == 7 and county_status["new"]["buckets"][0] == 7
    assert mine_status["new"]["total"] == SUPPRESSED      # one household: never shown as 1
    assert [r["township"] for r in mine_contact] == ["梅窖镇"]
    assert mine_contact[0]["waiting"] == SUPPRESSED and mine_contact[0]["median_days"] is None
    assert county_load == [{"username": "", "n": 7, "open": 7}]


@pytest.mark.parametrize(("row", "total", "expected"), [
    ([20, 3, 6], 29, [20, SUPPRESSED, SUPPRESSED]),
    ([20, 3, 2], 25, [20, SUPPRESSED, SUPPRESSED]),
    ([20, 0, 9], 29, [20, 0, 9]),
])
def test_protect(row, total, expected):
    assert figures.protect(row, total) == expected


def test_first_contact_medians_agree_on_postgresql(postgres_url, shared_runtime):
    from bot.config import load_config
    from bot.runtime import Runtime
    from bot.storage.models import Lead
    from tests.conftest import ROOT

    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": postgres_url}),
                      kb=shared_runtime.kb, matcher=shared_runtime.matcher)
    runtime.db.ensure_schema()
    try:
        for i in range(7):
            add_lead(runtime, "梅窖镇", name=f"户{i}", id_number=f"3607321979091521{i:02d}")
        with runtime.db.unit_of_work() as s:
            for days, lead in zip((1, 1, 2, 3, 5, 8), s.query(Lead).order_by(Lead.id)):
                lead.first_contacted_at = lead.created_at + dt.timedelta(days=days)
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
        with runtime.db.unit_of_work() as s:
            rows = figures.first_contact(s, Scope(frozenset({"梅窖镇"})), since)
            county = figures.first_contact(s, Scope(None), since)
        assert rows == county == [{"township": "梅窖镇", "n": 6, "contacted": 6, "waiting": SUPPRESSED,
                                   "median_days": 2.5}]
    finally:
        runtime.db.dispose()
