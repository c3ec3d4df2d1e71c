"""What a caseworker reads and does on the pages: the queue, one lead (why, masked answers, the
scrubbed transcript, history, who saw what), the status change with its preview, the 留言
queue, and an admin's accounts and audit log."""
from __future__ import annotations

from sqlalchemy import select

from bot.messages import IncomingMessage
from bot.storage.models import Lead
from tests.screening.conftest import RURAL_FAMILY, Conversation
from tests.workbench.conftest import OURS, THEIRS, text_of

PHONE = "+8613970712468"


def screened(runtime, township_answer="江背", user=PHONE) -> str:
    """A real SMS screening to the end; the lead's reference."""
    resident = Conversation(runtime, "sms", user)
    resident.send("我想申请低保")
    resident.answer_until({**RURAL_FAMILY, "consent": "1", "township": township_answer})
    return resident.last.application_ref


def test_the_queue_page_counts_filters_and_marks_overdue_and_urgent(wb):
    import datetime as dt

    late = wb.lead(OURS, name="迟到")
    urgent = wb.lead(OURS, name="急事", emergency=True, emergency_description="房屋失火")
    with wb.runtime.db.unit_of_work() as s:
        lead = s.execute(select(Lead).where(Lead.ref == late)).scalar_one()
        lead.created_at -= dt.timedelta(days=wb.runtime.config.workbench.overdue_days + 1)
    html = wb.client("cw").get("/workbench/leads").get_data(as_text=True)
    text = text_of(wb.client("cw").get("/workbench/leads"))
    assert "新线索 2" in text and "已联系 0" in text
    assert html.index(urgent) < html.index(late)                    # urgent first
    row_of_late = html[html.index(f">{late}<") - 200: html.index(f">{late}<") + 200]
    assert 'class="overdue' in row_of_late and "超期" in row_of_late
    assert "迟*" in text and "迟到" not in text                          # names masked
    assert "139****2468" not in text and "13970712468" not in text     # the queue shows no phone at all


def test_a_lead_page_says_why_with_the_figures_and_masks_the_applicant(wb):
    ref = wb.lead(OURS)
    page = text_of(wb.client("cw").get(f"/workbench/leads/{ref}"))
    assert "为什么是这条线索" in page
    assert "人均月收入" in page and "360 元" in page and "本县农村低保标准 720 元" in page and "低于" in page
    assert "残疾等级" in page and "4 级" in page
    assert "还缺" in page and "户口簿" in page
    for clear in ("黄春生", "13970712468", "360732197909152130"):
        assert clear not in page
    assert "黄**" in page and "139****2468" in page and "360732********2130" in page


def test_the_transcript_is_kept_with_the_lead_scrubbed_and_shown_on_its_page(wb):
    ref = screened(wb.runtime)
    lead = wb.row(ref)
    assert lead.transcript is not None
    stored = wb.runtime.protector.decrypt(lead.transcript)
    for clear in ("黄春生", "13970712468", "139 7071 2468", "360732197909152130"):
        assert clear not in stored
    page = text_of(wb.client("cw").get(f"/workbench/leads/{ref}"))
    assert "对话记录" in page and "一个月一千八左右" in page and "我妈有四级残疾证" in page   # the resident's own words
    assert "我想申请低保" in page and "家里一起生活的一共几口人" in page                  # and the questions asked
    for clear in ("黄春生", "13970712468", "139 7071 2468", "360732197909152130"):
        assert clear not in page


def test_a_name_corrected_during_the_screening_is_hidden_in_the_transcript_too():
    import datetime as dt

    from bot.leads.transcript import scrubbed
    from bot.screening.state import ScreeningState

    sc = ScreeningState.new("screening", 1, dt.datetime.now(dt.timezone.utc))
    sc.values = {"name": "黄春生", "phone": "13970712468"}
    sc.transcript = [
        {"asked": "name", "resident": "黄春森", "bot": ["您是说黄春森吗？"]},
        {"asked": "phone", "resident": "139 7071 2468", "bot": ["好的"]},
        {"asked": "confirm", "resident": "名字错了，是黄春生", "bot": ["· 姓名：黄春生"]},
    ]
    text = str(scrubbed(sc))
    for clear in ("黄春森", "黄春生", "7071", "13970712468"):
        assert clear not in text
    assert "（姓名已隐去）" in text and "黄**" in text


def test_reveal_shows_the_field_and_lists_it_under_who_saw_what(wb):
    ref = wb.lead(OURS)
    client = wb.client("cw")
    page = text_of(wb.post(client, f"/workbench/leads/{ref}/reveal", {"field": "phone", "purpose": "home_visit"},
                           follow=True))
    assert "13970712468" in page and "360732197909152130" not in page and "黄春生" not in page
    who_saw = page[page.index("谁查看过个人信息"):]
    assert "cw" in who_saw and "手机号" in who_saw and "入户核查" in who_saw
    refused = text_of(wb.post(client, f"/workbench/leads/{ref}/reveal", {"field": "name", "purpose": ""}, follow=True))
    assert "请选择或写明查看原因" in refused and "黄春生" not in refused


def test_a_bulk_reveal_is_not_possible(wb):
    ref = wb.lead(OURS)
    client = wb.client("cw")
    token = client.get(f"/workbench/leads/{ref}").get_data(as_text=True)
    from tests.workbench.documents_support import csrf_of

    response = client.post(f"/workbench/leads/{ref}/reveal", data={
        "csrf_token": csrf_of(token), "field": ["name", "id_number", "phone"], "purpose": "home_visit"},
        follow_redirects=True)
    shown = [v for v in ("黄春生", "360732197909152130", "13970712468") if v in text_of(response)]
    assert len(shown) == 1                       # one field, the first asked for, and only it audited
    assert [e.field for e in wb.audit("reveal")] == ["name"]


def test_a_status_change_previews_the_message_and_needs_a_note_to_close(wb):
    ref = wb.lead(OURS)
    client = wb.client("cw")
    preview = text_of(client.get(f"/workbench/leads/{ref}/status?to=contacted"))
    assert "将通过 短信 发送" in preview
    assert f"您的救助申请{ref}：工作人员已联系您，正在核实" in preview
    done = text_of(wb.post(client, f"/workbench/leads/{ref}/status", {"to": "contacted", "notify": "1"}, follow=True))
    assert "状态已改为“已联系”，已通过短信通知申请人" in done
    wb.post(client, f"/workbench/leads/{ref}/status", {"to": "submitted"})
    refused = text_of(wb.post(client, f"/workbench/leads/{ref}/status", {"to": "closed", "note": ""}, follow=True))
    assert "请填写办结说明" in refused and wb.row(ref).status == "submitted"
    skipped = text_of(wb.post(client, f"/workbench/leads/{ref}/status", {"to": "rejected"}, follow=True))
    assert "请填写办结说明" in skipped
    wb.post(client, f"/workbench/leads/{ref}/status", {"to": "closed", "note": "纳入低保"})
    assert wb.row(ref).status == "closed"
    assert [body for _, _, body in wb.outbox()] == [
        f"【救助通】您的救助申请{ref}：工作人员已联系您，正在核实。有疑问请拨12349。回复TD退订"]
    page = text_of(client.get(f"/workbench/leads/{ref}"))
    assert "已受理 → 已办结" in page and "纳入低保" in page and "状态为“已办结”，不能再改" in page


def test_a_move_the_workflow_forbids_is_refused_with_a_reason(wb):
    ref = wb.lead(OURS)
    page = text_of(wb.client("cw").get(f"/workbench/leads/{ref}/status?to=closed", follow_redirects=True))
    assert "当前状态不能改为这个状态" in page and wb.row(ref).status == "new"


def test_contact_without_the_number_and_the_message_in_the_history(wb):
    ref = wb.lead(OURS)
    client = wb.client("cw")
    page = text_of(client.get(f"/workbench/leads/{ref}"))
    assert "通过 短信 发送" in page
    done = text_of(wb.post(client, f"/workbench/leads/{ref}/contact", {"message": "请周五来办理"}, follow=True))
    assert "已通过短信发给申请人" in done and "请周五来办理" in done and "13970712468" not in done
    [(channel, recipient, body)] = wb.outbox()
    assert channel == "sms" and recipient == PHONE and "江背镇便民服务中心" in body


def test_a_supervisor_transfers_a_lead_and_the_resident_is_told_the_new_township(wb):
    ref = screened(wb.runtime)
    county = wb.client("county")
    page = text_of(wb.post(county, f"/workbench/leads/{ref}/transfer", {"township": THEIRS, "note": "常住高兴镇"},
                           follow=True))
    assert f"已转办到{THEIRS}" in page and f"转办：{OURS} → {THEIRS}" in page
    assert wb.client("cw").get(f"/workbench/leads/{ref}").status_code == 404
    assert wb.client("cw-other").get(f"/workbench/leads/{ref}").status_code == 200
    progress = wb.runtime.engine.handle(IncomingMessage(channel="sms", user_id=PHONE, text="查进度"))
    text = "\n".join(progress.messages)
    assert ref in text and f"办理单位：{THEIRS}便民服务中心" in text


def test_progress_tells_the_status_in_plain_words_and_the_township_never_a_person(wb):
    ref = screened(wb.runtime)
    client = wb.client("cw")
    wb.post(client, f"/workbench/leads/{ref}/claim")
    wb.post(client, f"/workbench/leads/{ref}/status", {"to": "contacted"})
    reply = "\n".join(wb.runtime.engine.handle(IncomingMessage(channel="sms", user_id=PHONE, text="查进度")).messages)
    assert f"编号{ref}" in reply and "工作人员已联系您，正在核实" in reply
    assert "办理单位：江背镇便民服务中心" in reply and "cw" not in reply


def test_a_left_message_is_answered_through_the_outbox_on_the_residents_channel(wb):
    ref = screened(wb.runtime)
    engine = wb.runtime.engine
    for text in ("留言", "我的材料还缺什么？"):
        engine.handle(IncomingMessage(channel="sms", user_id=PHONE, text=text))
    client = wb.client("cw")
    page = client.get("/workbench/messages")
    html = page.get_data(as_text=True)
    assert "我的材料还缺什么？" in html and ref in html and "通过短信发送" in text_of(page).replace(" ", "")
    qid = html.split("/workbench/messages/")[1].split("/")[0]
    # another township's caseworker neither sees nor answers it
    assert "我的材料还缺什么" not in text_of(wb.client("cw-other").get("/workbench/messages"))
    assert wb.post(wb.client("cw-other"), f"/workbench/messages/{qid}/answer", {"message": "x"}).status_code == 404
    done = text_of(wb.post(client, f"/workbench/messages/{qid}/answer", {"message": "还缺户口簿，请带原件。"},
                           follow=True))
    assert "答复已通过短信排队发送" in done and "还缺户口簿" in done and "没有待答复的留言" in done
    [(channel, recipient, body)] = [m for m in wb.outbox() if "还缺户口簿" in m[2]]
    assert (channel, recipient) == ("sms", PHONE) and "我的材料还缺什么" in body
    again = text_of(wb.post(client, f"/workbench/messages/{qid}/answer", {"message": "再说一次"}, follow=True))
    assert "已经答复过了" in again
    assert "答复留言" in text_of(client.get(f"/workbench/leads/{ref}"))   # in the lead's history


def test_an_admin_adds_an_account_and_the_new_caseworker_logs_in(wb):
    root = wb.client("root")
    refused = text_of(wb.post(root, "/workbench/accounts", {"username": "new-cw", "role": "caseworker",
                                                            "password": "long-password-1",
                                                            "password_again": "long-password-1"}, follow=True))
    assert "乡镇经办人至少要分配一个乡镇" in refused
    mismatch = text_of(wb.post(root, "/workbench/accounts", {"username": "new-cw", "role": "caseworker",
                                                             "township": OURS, "password": "long-password-1",
                                                             "password_again": "long-password-2"}, follow=True))
    assert "两次输入的密码不一样" in mismatch
    done = text_of(wb.post(root, "/workbench/accounts", {"username": "new-cw", "role": "caseworker",
                                                         "township": [OURS, THEIRS], "password": "long-password-1",
                                                         "password_again": "long-password-1"}, follow=True))
    assert "已新增账号 new-cw" in done and "江背镇、高兴镇" in done
    from tests.workbench.test_security import login_form

    assert login_form(wb.client(), "new-cw", "long-password-1").status_code == 302
    audit = text_of(root.get("/workbench/audit?action=user_add"))
    assert "new-cw（乡镇经办人：江背镇、高兴镇）" in audit and "root" in audit


def test_the_last_admin_cannot_be_disabled(wb):
    page = text_of(wb.post(wb.client("root"), "/workbench/accounts/root/disable", follow=True))
    assert "最后一个可用的管理员账号" in page
    assert wb.client("root").get("/workbench/accounts").status_code == 200


def test_an_admin_changes_a_caseworkers_townships_and_the_scope_follows(wb):
    theirs = wb.lead(THEIRS)
    assert wb.client("cw").get(f"/workbench/leads/{theirs}").status_code == 404
    client = wb.client("cw")
    wb.post(wb.client("root"), "/workbench/accounts/cw/townships", {"township": [OURS, THEIRS]})
    assert client.get(f"/workbench/leads/{theirs}").status_code == 200     # the open session follows at once


def test_the_audit_page_filters_by_person_action_field_lead_and_date(wb):
    a, b = wb.lead(OURS), wb.lead(OURS, name="李四")
    cw = wb.client("cw")
    wb.post(cw, f"/workbench/leads/{a}/reveal", {"field": "phone", "purpose": "home_visit"})
    wb.post(cw, f"/workbench/leads/{b}/reveal", {"field": "name", "purpose": "documents"})
    wb.post(wb.client("county"), f"/workbench/leads/{b}/claim")
    root = wb.client("root")
    by_field = text_of(root.get("/workbench/audit?field=phone"))
    assert a in by_field and b not in by_field and "入户核查" in by_field and "共 1 条" in by_field
    by_lead = text_of(root.get(f"/workbench/audit?lead={b.lower()}"))
    assert "共 2 条" in by_lead and "材料补正" in by_lead and "认领" in by_lead
    by_actor = text_of(root.get("/workbench/audit?actor=county&action=claim"))
    assert "共 1 条" in by_actor
    assert "共 0 条" in text_of(root.get("/workbench/audit?since=2000-01-01&until=2000-01-02"))
    assert "登录" in text_of(root.get("/workbench/audit?action=login"))
