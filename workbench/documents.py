"""Print and export: the application packet of one lead, and the queue as an Excel workbook.

Both go through the lead service's township scope first (a lead outside it is 404, an
export only holds leads inside it) and write their audit rows in the same unit of work
as they read: printing the packet shows the applicant's name, ID number and phone on
paper, so it is recorded as a reveal of each field with the purpose 打印申请材料 — the
lead's "who saw what" panel lists it like any other.
"""
from __future__ import annotations

import dataclasses
import json
import zoneinfo
from urllib.parse import quote

from flask import Response, abort, g, request

from bot.leads import LeadService, QueueFilter
from bot.leads.audit import FIELD_LABELS
from bot.leads.export import PRESETS, describe_filters, queue_xlsx
from bot.leads.packet import application_pdf, lead_view
from bot.leads.queue import queue
from bot.screening.leads import PERSONAL
from bot.storage.models import AuditEvent, utcnow
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import one_lead, requires, unit_of_work

PRINT_PURPOSE = "打印申请材料"
# One export holds at most this many leads (the file says so when the filter matched more):
# a township's whole history fits; a county-wide dump is asked for in smaller filters.
EXPORT_LIMIT = 5000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PRESET_WORDS = {"internal": "内部版", "public": "公示版"}
works_leads = requires(lambda actor: actor.works_leads)


@blueprint.route("/leads/<ref>/application.pdf")
@one_lead
def application(ref: str):
    """The pre-filled application packet (PDF) for the resident to sign at the office; audited."""
    runtime = runtime_of()
    with unit_of_work() as session:
        lead = LeadService(session, runtime, g.actor).get(ref)   # LeadNotFound → 404 outside the scope
        personal = json.loads(runtime.protector.decrypt(lead.personal))
        now = utcnow()
        for field in PERSONAL:
            if personal.get(field):
                session.add(AuditEvent(actor=g.actor.label, action="reveal", lead_ref=lead.ref, field=field,
                                       purpose=PRINT_PURPOSE, detail=f"查看{FIELD_LABELS[field]}（打印）", at=now))
        view = lead_view(lead, personal)
    pdf = application_pdf(view, runtime.config)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{view["ref"]}-application.pdf"'})


@blueprint.route("/leads/export.xlsx")
@works_leads
def export():
    """The queue as filtered (the queue page's query string), as 内部版 or 公示版; audited."""
    runtime = runtime_of()
    preset = request.args.get("preset", "internal")
    if preset not in PRESETS:
        abort(400, description="导出类型只能是内部版（internal）或公示版（public）。")
    flt = dataclasses.replace(QueueFilter.from_args(request.args, runtime.config.county.townships), page=1)
    filters = flt.query_args()
    now = utcnow()
    with unit_of_work() as session:
        page = queue(session, runtime, g.actor, flt, page_size=EXPORT_LIMIT, now=now)
        session.add(AuditEvent(actor=g.actor.label, action="export", lead_ref=None, at=now,
                               detail=f"导出{PRESET_WORDS[preset]}{len(page.rows)}条（{describe_filters(filters)}）"))
    zone = zoneinfo.ZoneInfo(runtime.config.workbench.timezone)
    data = queue_xlsx(page.rows, preset, county=runtime.config.county.name, exported_by=g.actor.label,
                      exported_at=now, zone=zone, filters=filters,
                      truncated_at=EXPORT_LIMIT if page.total > EXPORT_LIMIT else None)
    name = f"线索{PRESET_WORDS[preset]}-{now.astimezone(zone):%Y%m%d-%H%M}.xlsx"
    return Response(data, mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"leads-{preset}.xlsx\"; filename*=UTF-8''{quote(name)}"})
