"""The dashboard in a real browser (Debian's chromium, as test_browser.py): the county's view, a
caseworker's view, a CSV download and the flow page; screenshots in tests/artifacts/browser/."""
from __future__ import annotations

import datetime as dt
import random

from bot.insight.events import AGE_BANDS
from sqlalchemy import select

from bot.storage.models import InsightEvent, Lead
from tests.workbench.documents_support import PASSWORD, add_account, add_lead
from tests.workbench.test_browser import ARTIFACTS, browser, live, shot  # noqa: F401 — fixtures

TOPICS = ("dibao.what", "dibao.eligibility", "tekun.eligibility", "tekun.support")
STEPS = ("consent", "program", "age", "township", "household_size", "household_monthly_income", "savings",
         "confirm")


def seed(runtime) -> None:
    """Eight weeks of events in two townships, as residents would leave them (a fixed seed)."""
    rng = random.Random(14)
    today = dt.datetime.now(dt.timezone.utc).date()
    rows = []
    for back in range(56):
        day = today - dt.timedelta(days=back)
        for township in ("崇贤乡", "梅窖镇", None):
            for topic in TOPICS:
                for kind, mean in (("question.answered", 6), ("question.offered", 2), ("question.unanswered", 1)):
                    rows += [dict(day=day, kind=kind, subject=topic, channel=rng.choice(("sms", "wechat")),
                                  township=township)] * rng.randint(0, mean)
            for channel in ("sms", "wechat"):
                band = rng.choice(AGE_BANDS)
                started = rng.randint(0, 4)
                rows += [dict(day=day, kind="screening.started", subject="consent", channel=channel,
                              township=township, age_band=band)] * started
                for _ in range(started):
                    stop = rng.choices(range(len(STEPS) + 1), weights=(1, 1, 1, 1, 1, 5, 2, 1, 6))[0]
                    for step in STEPS[:stop]:
                        rows.append(dict(day=day, kind="screening.asked", subject=step, channel=channel,
                                         township=township, age_band=band))
                    for step in STEPS[:max(stop - 1, 0)]:
                        rows.append(dict(day=day, kind="screening.answered", subject=step, channel=channel,
                                         township=township, age_band=band))
                    kind = "screening.submitted" if stop == len(STEPS) else "screening.abandoned"
                    rows.append(dict(day=day, kind=kind, subject=STEPS[min(stop, len(STEPS) - 1)],
                                     channel=channel, township=township, age_band=band))
    with runtime.db.unit_of_work() as s:
        s.add_all(InsightEvent(**row) for row in rows)


def test_the_county_and_a_caseworker_read_the_dashboard(runtime, live, browser):  # noqa: F811
    seed(runtime)
    add_account(runtime, "county", "supervisor")
    add_account(runtime, "cw-chongxian", "caseworker", ["崇贤乡"])
    refs = [add_lead(runtime, "崇贤乡" if i % 3 == 0 else "梅窖镇", name=f"户{i}", id_number=f"3607321979091521{i:02d}")
            for i in range(12)]
    with runtime.db.unit_of_work() as s:   # seven of 梅窖镇's leads reached one to four days after they came in
        leads = s.scalars(select(Lead).where(Lead.ref.in_(refs), Lead.township == "梅窖镇")).all()
        for days, lead in zip((1, 1, 2, 2, 3, 4, 4), leads):
            lead.status = "contacted"
            lead.first_contacted_at = lead.created_at + dt.timedelta(days=days)

    context = browser.new_context(locale="zh-CN", accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live}/workbench/login")
    page.fill("input[name=username]", "county")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.click("nav a:has-text('数据看板')")
    page.wait_for_selector("section#topics svg.chart")
    assert "全县" in page.inner_text("h1")
    assert page.locator("section.figure svg.chart").count() >= 6
    assert "放弃最多的一步" in page.inner_text("section#steps")
    contact = page.inner_text("section#contact")
    assert "2.0" in contact and "<5" in contact          # 梅窖镇's median; 崇贤乡's four leads hidden
    shot(page, "11-dashboard-county")

    with page.expect_download() as download:
        page.click("section#topics a:has-text('下载CSV')")
    path = ARTIFACTS / "dashboard-topics.csv"
    download.value.save_as(path)
    text = path.read_text(encoding="utf-8-sig")
    assert "问题数" in text and "什么是低保" in text

    page.click("a:has-text('在流程图里看每一步')")
    page.wait_for_selector("ol.flow li.worst")
    shot(page, "12-dashboard-flow")

    page.click("button:has-text('退出')")
    page.fill("input[name=username]", "cw-chongxian")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")
    page.goto(f"{live}/workbench/dashboard?weeks=4")
    page.wait_for_selector("section#townships")
    assert "我负责的乡镇" in page.inner_text("h1")
    assert "梅窖镇" not in page.inner_text("main")
    shot(page, "13-dashboard-caseworker")
    context.close()
