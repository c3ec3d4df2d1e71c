"""GET /workbench/leads/REF/application.pdf and /workbench/leads/export.xlsx: scope, audit, presets."""
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.storage.models import AuditEvent
from tests.workbench.documents_support import add_account, add_lead, log_in
from web.app import create_app


@pytest.fixture
def app(runtime):
    app = create_app(runtime)
    add_account(runtime, "cw-chongxian", "caseworker", ["崇贤乡"])
    add_account(runtime, "cw-meijiao", "caseworker", ["梅窖镇"])
    add_account(runtime, "county", "supervisor")
    add_account(runtime, "root", "admin")
    return app


def client_for(app, username):
    client = app.test_client()
    log_in(client, username)
    return client


def audit(runtime, action):
    with runtime.db.session() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).scalars())


def sheet_rows(data: bytes):
    book = load_workbook(io.BytesIO(data))
    return [[cell for cell in row] for row in book.active.iter_rows(values_only=True)]


def test_packet_is_a_pdf_for_the_township_and_audited_as_a_print_reveal(app, runtime):
    ref = add_lead(runtime, "崇贤乡")
    response = client_for(app, "cw-chongxian").get(f"/workbench/leads/{ref}/application.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    events = audit(runtime, "reveal")
    assert [(e.actor, e.lead_ref, e.field, e.purpose) for e in events] == [
        ("cw-chongxian", ref, field, "打印申请材料") for field in ("name", "id_number", "phone")]


@pytest.mark.parametrize("who, status", [("cw-meijiao", 404), ("county", 200), ("root", 404)])
def test_packet_outside_the_scope_is_404_and_prints_nothing(app, runtime, who, status):
    ref = add_lead(runtime, "崇贤乡")
    response = client_for(app, who).get(f"/workbench/leads/{ref}/application.pdf")
    assert response.status_code == status
    assert bool(audit(runtime, "reveal")) == (status == 200)
    if status != 200:
        assert b"%PDF" not in response.data


def test_packet_and_export_need_a_session(app, runtime):
    ref = add_lead(runtime, "崇贤乡")
    for path in (f"/workbench/leads/{ref}/application.pdf", "/workbench/leads/export.xlsx?preset=public"):
        response = app.test_client().get(path)
        assert response.status_code in (302, 401)
        assert b"PK" not in response.data[:2] and b"%PDF" not in response.data


def test_internal_export_has_the_queue_columns_the_exporter_and_only_the_scope(app, runtime):
    mine = add_lead(runtime, "崇贤乡")
    add_lead(runtime, "梅窖镇", name="刘桂英")
    response = client_for(app, "cw-chongxian").get("/workbench/leads/export.xlsx?preset=internal&status=new")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    rows = sheet_rows(response.data)
    text = "\n".join(str(c) for row in rows for c in row if c)
    assert "导出人：cw-chongxian" in text and "导出时间：" in text and "筛选条件：状态：新线索" in text
    header = rows.index(next(r for r in rows if r[0] == "编号"))
    data = [r for r in rows[header + 1:] if r[0]]
    assert [r[0] for r in data] == [mine]            # 梅窖镇's lead is outside the scope
    assert data[0][2] == "新线索" and data[0][4] == "崇贤乡" and data[0][5] == "太平村"
    assert data[0][7] == "黄**"                       # masked as the queue shows it
    assert "360732197909152130" not in text and "13970712468" not in text
    [event] = audit(runtime, "export")
    assert event.actor == "cw-chongxian" and "内部版1条" in event.detail


def test_public_export_has_only_what_may_be_posted(app, runtime):
    add_lead(runtime, "崇贤乡")
    add_lead(runtime, "梅窖镇", name="刘桂英", village="塘石村")
    response = client_for(app, "county").get("/workbench/leads/export.xlsx?preset=public&status=")
    rows = sheet_rows(response.data)
    header = next(i for i, r in enumerate(rows) if r[0] == "申请人")
    assert rows[header] == ["申请人", "村（社区）", "申请项目", "办理状态"]
    data = sorted(tuple(r) for r in rows[header + 1:] if r[0])
    assert [(r[0], r[1], r[3]) for r in data] == [("刘**", "塘石村", "新线索"), ("黄**", "太平村", "新线索")]
    text = "\n".join(str(c) for row in rows for c in row if c)
    for secret in ("360732", "1397071", "1800", "county", "JZ", "导出人"):
        assert secret not in text, secret
    book = load_workbook(io.BytesIO(response.data))
    assert book.properties.creator == runtime.config.county.name   # not the exporter's username


def test_export_filters_apply_and_an_unknown_preset_is_refused(app, runtime):
    add_lead(runtime, "崇贤乡")
    client = client_for(app, "county")
    rows = sheet_rows(client.get("/workbench/leads/export.xlsx?preset=internal&township=梅窖镇").data)
    assert not [r for r in rows if r[0] and str(r[0]).startswith("JZ")]
    assert client.get("/workbench/leads/export.xlsx?preset=everything").status_code == 400
    assert not audit(runtime, "export")[1:]   # the refused one wrote nothing


def test_pages_link_to_print_and_export(app, runtime):
    ref = add_lead(runtime, "崇贤乡")
    client = client_for(app, "cw-chongxian")
    assert f"/workbench/leads/{ref}/application.pdf" in client.get(f"/workbench/leads/{ref}").get_data(as_text=True)
    queue = client.get("/workbench/leads?status=new&township=崇贤乡").get_data(as_text=True)
    assert "export.xlsx?preset=internal" in queue and "export.xlsx?preset=public" in queue
