"""The audit log as an admin reads it: filters (who, what, which lead, when), newest first, paged."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain import LEAD_STATUS_LABELS
from bot.storage.models import AuditEvent

PAGE = 100
# The audit log's words for what was done and which personal field was seen.
ACTION_LABELS = {
    "reveal": "查看个人信息", "status": "改状态", "claim": "认领", "assign": "分派", "transfer": "转办",
    "contact": "联系申请人", "documents": "登记材料", "export": "导出", "reply": "答复留言",
    "login": "登录", "login_failed": "登录失败", "user_add": "新增账号", "user_disable": "停用账号", "user_enable": "启用账号",
    "user_reset_password": "重置密码", "user_locked": "账号锁定", "user_unlock": "解除锁定",
    "user_townships": "调整乡镇", "recheck_invite": "邀请复查",
}
FIELD_LABELS = {"name": "姓名", "id_number": "身份证号", "phone": "手机号"}
_STATUS_MOVE = re.compile(r"^(\w+) → (\w+)(.*)$", re.S)


def readable(detail: str) -> str:
    """An event's detail in a caseworker's words: a status move stored by id (new → contacted,
    as `jiuzhu leads status` writes it) reads 新线索 → 已联系."""
    move = _STATUS_MOVE.match(detail or "")
    if move and move.group(1) in LEAD_STATUS_LABELS and move.group(2) in LEAD_STATUS_LABELS:
        return f"{LEAD_STATUS_LABELS[move.group(1)]} → {LEAD_STATUS_LABELS[move.group(2)]}{move.group(3)}"
    return detail or ""


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page asks for."""

    actor: str = ""
    action: str = ""
    lead_ref: str = ""
    field: str = ""                    # a reveal's personal field (name, id_number, phone)
    since: dt.datetime | None = None   # UTC bounds
    until: dt.datetime | None = None
    page: int = 1


def audit_page(session: Session, flt: AuditFilter) -> tuple[list[AuditEvent], int]:
    """A page of audit events and the number matching the filter."""
    conditions = []
    if flt.actor:
        conditions.append(AuditEvent.actor == flt.actor)
    if flt.action:
        conditions.append(AuditEvent.action == flt.action)
    if flt.lead_ref:
        conditions.append(AuditEvent.lead_ref == flt.lead_ref.strip().upper())
    if flt.field:
        conditions.append(AuditEvent.field == flt.field)
    if flt.since:
        conditions.append(AuditEvent.at >= flt.since)
    if flt.until:
        conditions.append(AuditEvent.at < flt.until)
    total = session.execute(select(func.count()).select_from(AuditEvent).where(*conditions)).scalar_one()
    rows = session.execute(select(AuditEvent).where(*conditions)
                           .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                           .limit(PAGE).offset((max(1, flt.page) - 1) * PAGE)).scalars().all()
    return list(rows), total


def actions(session: Session) -> list[str]:
    """The actions recorded so far (for the filter's choices)."""
    return list(session.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars())
