"""End to end in a real browser: Debian's chromium driven by Playwright against a live server.

A resident screens by SMS; the demo supervisor logs in, finds the new lead, claims it,
reads why it is a lead, reveals the phone for a call-back, takes it to 已办结 with a note,
prints the packet and exports both presets. Screenshots and the downloaded files are kept
under tests/artifacts/browser/ for a person to look at. Without chromium (or Playwright)
the test skips; with CI=true that is a failure (scripts/setup-browser installs them).
"""
from __future__ import annotations

import io
import os
import shutil
import threading

import pytest
from openpyxl import load_workbook
from werkzeug.serving import make_server

from bot.commands.demo import DEMO_PASSWORD, ensure_demo
from tests.conftest import ROOT, service_missing
from tests.screening.conftest import RURAL_FAMILY, Conversation
from web.app import create_app

ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
CHROMIUM = os.environ.get("JIUZHU_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def browser():
    """Headless chromium from the system (Playwright's own browser download is not used)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing("Playwright for Python", exc)
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        service_missing(f"chromium at {CHROMIUM}", FileNotFoundError("run scripts/setup-browser"))
    with sync_playwright() as p:
        # root (CI) cannot use chromium's sandbox
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--lang=zh-CN"], headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live(runtime):
    """The real app (webhooks and workbench) on a free local port, in a thread."""
    server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_caseworker_works_a_new_lead_from_login_to_closed(runtime, live, browser):
    ensure_demo(runtime)   # the demo county account, and demo leads of other townships around ours
    resident = Conversation(runtime, "sms", "+8613970712468")
    resident.send("我想申请低保")
    resident.answer_until({**RURAL_FAMILY, "consent": "1"})
    ref = resident.last.application_ref
    assert ref

    context = browser.new_context(locale="zh-CN", accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live}/workbench/leads")
    assert "/workbench/login" in page.url
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", DEMO_PASSWORD)
    shot(page, "01-login")
    page.click("button:has-text('登录')")

    # the queue: new leads, ours among the demo ones
    page.wait_for_selector("table.queue")
    assert page.locator(f"table.queue a:has-text('{ref}')").count() == 1
    shot(page, "02-queue")
    page.click(f"table.queue a:has-text('{ref}')")

    # claim it, then read why
    page.click("button:has-text('认领')")
    assert "已认领" in page.inner_text("body")
    why = page.inner_text("section:has(h2:has-text('为什么是这条线索'))")
    assert "低保" in why and "720" in why            # the reason quotes the county's 农村低保标准
    body = page.inner_text("body")
    assert "13970712468" not in body and "139****2468" in body
    shot(page, "03-lead-claimed")

    # reveal the phone for a call-back: shown in full, and listed under who saw what
    reveal = page.locator("details.reveal:has(input[name=field][value=phone])")
    reveal.locator("summary").click()
    reveal.locator("label:has-text('电话回访') input").check()
    reveal.locator("button:has-text('查看')").click()
    assert "13970712468" in page.inner_text("section:has(h2:has-text('申请人信息'))")
    assert "电话回访" in page.inner_text("section:has(h2:has-text('谁查看过个人信息'))")
    shot(page, "04-revealed")

    # 新线索 → 已联系 → 已受理 → 已办结, the last with the required note
    for label in ("已联系", "已受理", "已办结"):
        page.click(f"a.button:has-text('改为“{label}”')")
        if label == "已办结":
            page.fill("textarea[name=note]", "材料齐全，已审核确认纳入低保。")
            shot(page, "05-closing-preview")
        page.click(f"button:has-text('确认改为“{label}”')")
        assert f"状态已改为“{label}”" in page.inner_text("body")
    assert "材料齐全，已审核确认纳入低保。" in page.inner_text("section:has(h2:has-text('办理记录'))")
    shot(page, "06-closed")

    # print the packet
    pdf = page.request.get(f"{live}/workbench/leads/{ref}/application.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")
    (ARTIFACTS / "application.pdf").write_bytes(pdf.body())
    page.reload()
    assert "打印申请材料" in page.inner_text("section:has(h2:has-text('谁查看过个人信息'))")

    # export both presets of the 已办结 queue through the queue page's links
    page.goto(f"{live}/workbench/leads?status=closed")
    shot(page, "07-queue-closed")
    books = {}
    for preset, link in (("internal", "内部版（Excel）"), ("public", "公示版")):
        with page.expect_download() as download:
            page.click(f"p.exports a:has-text('{link}')")
        path = ARTIFACTS / f"export-{preset}.xlsx"
        download.value.save_as(path)
        books[preset] = [list(r) for r in load_workbook(io.BytesIO(path.read_bytes())).active.iter_rows(values_only=True)]
    internal = "\n".join(str(c) for r in books["internal"] for c in r if c)
    assert ref in internal and "导出人：demo" in internal and "已办结" in internal
    public = books["public"]
    assert any(r[:2] == ["黄**", "太平村"] and "低保" in r[2] and r[3] == "已办结" for r in public)
    assert ref not in "\n".join(str(c) for r in public for c in r if c)
    context.close()


def test_a_caseworker_answers_a_left_message_and_an_admin_reads_the_audit_log(runtime, live, browser):
    ensure_demo(runtime)   # the demo resident of 江背镇 has left a 留言
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, live, "demo-jiangbei")
    page.click("nav a:has-text('群众留言')")
    message = page.locator("article.message").first
    assert "钱是每个月几号打到卡上" in message.inner_text()
    message.locator("textarea[name=message]").fill("批准后每月10日前发放到社会保障卡，可到村委会查询。")
    shot(page, "08-messages")
    message.locator("button:has-text('发送答复')").click()
    assert "答复已通过短信排队发送" in page.inner_text("body")
    assert "没有待答复的留言" in page.inner_text("body")
    page.click("button:has-text('退出')")

    log_in(page, live, "demo-admin")
    assert "/workbench/accounts" in page.url
    shot(page, "09-accounts")
    page.click("nav a:has-text('审计日志')")
    page.select_option("select[name=action]", label="答复留言")
    page.click("button:has-text('筛选')")
    assert "demo-jiangbei" in page.inner_text("table") and "共 1 条" in page.inner_text("body")
    shot(page, "10-audit")
    context.close()


def log_in(page, live: str, username: str) -> None:
    page.goto(f"{live}/workbench/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button:has-text('登录')")
