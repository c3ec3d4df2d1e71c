"""The curation pages in a real browser (Debian's chromium via Playwright, as tests/workbench/test_browser.py).

Residents asked things the bot could not answer, and config.toml's 农村低保标准 went up since
the entries were last read. A caseworker opens the queue, turns the most frequent group into
a new phrasing and waits for the check; a supervisor approves and publishes it and marks a
flagged entry reviewed; the bot then answers the question. Screenshots land in
tests/artifacts/browser/curation-*.png for a person to look at.
"""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from bot.knowledge import load_knowledge
from bot.runtime import Runtime
from tests.curation.conftest import UNKNOWN, ask_unanswered
from tests.curation.test_figures import raised
from tests.workbench.documents_support import PASSWORD
from tests.workbench.test_browser import browser, shot  # noqa: F401 — the fixture, the screenshot helper
from web.app import create_app

QUESTIONS = (*UNKNOWN, *UNKNOWN[:2], "火车票在哪里买", "低保户能不能免费坐公交车", "低保户坐公交车免费吗",
             "残疾人的车能不能停在小区里")


@pytest.fixture
def raised_runtime(runtime, sqlite_url):
    """The same database, started again after 农村低保标准 went from 720 to 760."""
    runtime.knowledge.refresh_now()  # what the entries quoted at the first start
    ask_unanswered(runtime, QUESTIONS)
    config = raised(sqlite_url)
    return Runtime(config, kb=load_knowledge(config), matcher=runtime.matcher)


@pytest.fixture
def live(raised_runtime):
    app = create_app(raised_runtime)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def log_in(page, live: str, username: str) -> None:
    page.goto(f"{live}/workbench/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('登录')")


def test_a_group_becomes_a_phrasing_reviewed_by_a_supervisor(raised_runtime, live, browser):  # noqa: F811
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, live, "cw")
    page.click("nav a:has-text('知识库维护')")
    rows = page.locator("table.groups tbody tr")
    assert rows.nth(0).locator("td").first.inner_text() == "6"   # the livestock question, asked most
    assert UNKNOWN[0] in rows.nth(0).inner_text()
    body = page.inner_text("body")
    assert "刘桂英" not in body and "13970712468" not in body
    assert "需要核对的条目" in body and "720" in body and "760" in body
    shot(page, "curation-01-queue")

    rows.nth(0).locator("a").first.click()
    page.wait_for_selector("h2:has-text('把这组问题变成')")
    assert "我叫[姓名]，电话[电话]" in page.inner_text("body")
    shot(page, "curation-02-group")
    form = page.locator("form:has(input[name=kind][value=phrasing])")
    entry = next(e for e in raised_runtime.kb.entries if e.topic == "linshi.eligibility")
    form.locator("select[name=entry_id]").select_option(value=entry.id)
    form.locator("button").click()
    assert "正在检查" in page.inner_text("body")
    shot(page, "curation-03-checking")
    page.wait_for_selector("text=知识库校验通过", timeout=240_000)   # the page reloads itself meanwhile
    assert "开发集" in page.inner_text("section.check") and "这组问题改动前后" in page.inner_text("section.check")
    shot(page, "curation-04-checked")
    page.click("button:has-text('退出')")

    log_in(page, live, "sup1")
    page.goto(f"{live}/workbench/curation/changes")
    shot(page, "curation-05-changes")
    page.click("table.changes-table a:has-text('新增问法')")
    page.fill("section.review textarea[name=note]", "问法贴切，同意发布。")
    page.click("button:has-text('批准并发布')")
    assert "已发布为知识库版本1" in page.inner_text("body")
    assert "撤销这项改动" in page.inner_text("body")
    shot(page, "curation-06-published")

    assert raised_runtime.knowledge.refresh_now() or raised_runtime.knowledge_version == 1
    assert raised_runtime.answer(UNKNOWN[0]).topic == "linshi.eligibility"

    page.goto(f"{live}/workbench/curation")
    flagged = page.locator("section.flagged tbody tr")
    count = flagged.count()
    flagged.nth(0).locator("summary").click()
    assert flagged.nth(0).locator("div.answer").first.is_visible()
    shot(page, "curation-07-figures")
    flagged.nth(0).locator("input[name=note]").fill("答案无需修改")
    flagged.nth(0).locator("button").click()
    assert "已按现行数字核对" in page.inner_text("body")
    assert page.locator("section.flagged tbody tr").count() == count - 1
    page.goto(f"{live}/workbench/curation?status=resolved")
    assert UNKNOWN[0] in page.inner_text("table.groups")
    shot(page, "curation-08-resolved")
    page.goto(f"{live}/workbench/curation/draft-entry")
    shot(page, "curation-09-entry-form")
    context.close()
