"""Knowledge changes: drafted from a question group, checked, approved by a second account, published,
reverted — each step in the caller's unit of work with its audit row.

Who does what (bot.accounts.roles): caseworkers and supervisors draft and check; only a
supervisor approves, and never a change they wrote themselves (the review rule); a
supervisor reverts. Publishing needs a finished check made against the knowledge as it
is now; when the check says accuracy falls, the reviewer must say why they publish anyway.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.accounts.roles import Actor
from bot.curation.drafts import payload_of, summary
from bot.curation.figures import record_baselines
from bot.curation.groups import STATUS_LABELS
from bot.curation.live import load_live
from bot.curation.overlay import ENTRY, KIND_LABELS, PHRASING
from bot.errors import JiuzhuError
from bot.storage.models import AuditEvent, KnowledgeChange, KnowledgeVersion, QuestionGroup, utcnow

STATUS_WORDS = {"pending": "待审核", "published": "已发布", "rejected": "已退回", "withdrawn": "已撤回",
                "reverted": "已撤销"}
REASON_CHARS = 500


class ChangeRefused(JiuzhuError):
    """A step the actor may not take now (the text says why)."""


class ChangeNotFound(JiuzhuError):
    """No knowledge change with this id."""


def may_draft(actor: Actor) -> bool:
    """Caseworkers and supervisors write changes (an admin manages accounts, not content)."""
    return actor.works_leads


def may_review(actor: Actor) -> bool:
    """Only a supervisor approves, rejects and reverts."""
    return actor.supervises


@dataclass(frozen=True)
class Published:
    """The version a publish or revert made."""

    version: int
    change_id: int


class ChangeService:
    """Knowledge changes for one actor in the request's unit of work."""

    def __init__(self, session: Session, runtime, actor: Actor):
        self.session, self.runtime, self.actor = session, runtime, actor

    def get(self, change_id: int) -> KnowledgeChange:
        """One change (ChangeNotFound)."""
        row = self.session.get(KnowledgeChange, change_id)
        if row is None:
            raise ChangeNotFound(change_id)
        return row

    def listing(self, status: str | None = None, limit: int = 100) -> list[KnowledgeChange]:
        """Changes of a status (all when None), newest first."""
        query = select(KnowledgeChange).order_by(KnowledgeChange.id.desc()).limit(limit)
        if status:
            query = query.where(KnowledgeChange.status == status)
        return list(self.session.scalars(query))

    def summary(self, row: KnowledgeChange) -> str:
        """What the change does, in one line."""
        return summary(row.kind, row.payload, self.runtime.kb)

    def draft(self, kind: str, form, group_id: int | None) -> KnowledgeChange:
        """A new pending change from the form (DraftError says what to fix)."""
        if not may_draft(self.actor):
            raise ChangeRefused("您的账号不能编写知识库改动。")
        if group_id is not None and self.session.get(QuestionGroup, group_id) is None:
            group_id = None
        payload = payload_of(kind, form, self.runtime.kb, county_today(self.runtime))
        row = KnowledgeChange(kind=kind, payload=payload, status="pending", group_id=group_id,
                              author=self.actor.label, author_id=self.actor.user_id, created_at=utcnow())
        self.session.add(row)
        self.session.flush()
        self._audit("kb_draft", row, f"提交改动#{row.id}（{KIND_LABELS[kind]}）：{summary(kind, payload, self.runtime.kb)}")
        return row

    def request_check(self, change_id: int) -> KnowledgeChange:
        """Mark the check as running (the caller starts it after the commit)."""
        row = self._pending(change_id)
        if not (row.author_id == self.actor.user_id or may_review(self.actor)):
            raise ChangeRefused("只有作者或县级督导可以运行检查。")
        row.check_state, row.check_started_at, row.check_result = "running", utcnow(), None
        return row

    def withdraw(self, change_id: int) -> None:
        """The author takes back a pending change."""
        row = self._pending(change_id)
        if row.author_id != self.actor.user_id:
            raise ChangeRefused("只有作者可以撤回。")
        row.status = "withdrawn"
        self._audit("kb_withdraw", row, f"撤回改动#{row.id}")

    def reject(self, change_id: int, note: str) -> None:
        """A supervisor sends a pending change back with a reason."""
        row = self._pending(change_id)
        self._require_reviewer(row)
        note = note.strip()[:REASON_CHARS]
        if not note:
            raise ChangeRefused("请写明退回的理由。")
        row.status, row.reviewer, row.reviewed_at, row.review_note = "rejected", self.actor.label, utcnow(), note
        self._audit("kb_reject", row, f"退回改动#{row.id}：{note[:200]}")

    def approve(self, change_id: int, note: str = "", override_reason: str = "") -> Published:
        """Publish a checked change as the next knowledge version (the review rule applies)."""
        self._one_publisher()
        row = self._pending(change_id)
        self._require_reviewer(row)
        result = row.check_result or {}
        if row.check_state != "done" or not result:
            raise ChangeRefused("请先运行检查，看过结果再发布。")
        if not result.get("valid"):
            raise ChangeRefused("检查未通过（知识库校验有问题），不能发布。")
        live = load_live(self.runtime.config, self.session)
        if result.get("base_fingerprint") != live.kb.fingerprint:
            raise ChangeRefused("检查之后知识库已有变化（其他改动发布或文件更新），请重新检查。")
        override_reason = override_reason.strip()[:REASON_CHARS]
        if result.get("lowers") and not override_reason:
            raise ChangeRefused("这项改动会降低评估集的准确率。如确需发布，请勾选确认并写明理由。")
        now = utcnow()
        version = self._new_version("publish", row, now)
        row.status, row.published_version = "published", version
        row.reviewer, row.reviewed_at, row.review_note = self.actor.label, now, note.strip()[:REASON_CHARS]
        row.override_reason = override_reason or None
        lowered = f"（准确率下降，理由：{override_reason[:200]}）" if override_reason else ""
        self._audit("kb_publish", row, f"发布改动#{row.id}为知识库版本{version}{lowered}")
        if row.kind == ENTRY:
            self.session.flush()
            record_baselines(self.session, load_live(self.runtime.config, self.session).kb,
                             self.runtime.config, reviewer=self.actor.label, only={row.payload["id"]})
        self._mark_group(row, "resolved", f"已发布改动#{row.id}（版本{version}）：{self.summary(row)}")
        return Published(version, row.id)

    def revert(self, change_id: int, note: str) -> Published:
        """Take a published change out again, as a new knowledge version."""
        self._one_publisher()
        row = self.get(change_id)
        if not may_review(self.actor):
            raise ChangeRefused("只有县级督导可以撤销已发布的改动。")
        if row.status != "published":
            raise ChangeRefused("只有已发布的改动可以撤销。")
        note = note.strip()[:REASON_CHARS]
        if not note:
            raise ChangeRefused("请写明撤销的理由。")
        if row.kind == ENTRY:
            dependants = [c.id for c in self.listing("published", limit=10_000)
                          if c.kind == PHRASING and c.payload.get("entry_id") == row.payload["id"]]
            if dependants:
                raise ChangeRefused("先撤销给这个条目加的问法：" + "、".join(f"#{i}" for i in dependants) + "。")
        now = utcnow()
        version = self._new_version("revert", row, now)
        row.status, row.reverted_version, row.reverted_by, row.reverted_at = "reverted", version, self.actor.label, now
        self._audit("kb_revert", row, f"撤销改动#{row.id}（知识库版本{version}）：{note[:200]}")
        self._mark_group(row, "open", f"改动#{row.id}已撤销（版本{version}）：{note}")
        return Published(version, row.id)

    def history(self, limit: int = 50) -> list[tuple[KnowledgeVersion, KnowledgeChange]]:
        """Knowledge versions, newest first, with their change."""
        query = (select(KnowledgeVersion, KnowledgeChange).join(KnowledgeChange,
                                                                KnowledgeChange.id == KnowledgeVersion.change_id)
                 .order_by(KnowledgeVersion.id.desc()).limit(limit))
        return [(v, c) for v, c in self.session.execute(query)]

    def _one_publisher(self) -> None:
        """Publishes and reverts one at a time, so a check's "knowledge as it is now" stays true
        until the publish commits (PostgreSQL: a transaction lock; SQLite has one writer anyway,
        and refuses a write from a transaction that read an older snapshot)."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(736043)"))

    def _pending(self, change_id: int) -> KnowledgeChange:
        row = self.get(change_id)
        if row.status != "pending":
            raise ChangeRefused(f"这项改动{STATUS_WORDS.get(row.status, row.status)}，不能再操作。")
        return row

    def _require_reviewer(self, row: KnowledgeChange) -> None:
        if not may_review(self.actor):
            raise ChangeRefused("只有县级督导可以审核。")
        if row.author_id == self.actor.user_id or row.author == self.actor.label:
            raise ChangeRefused("不能审核自己提交的改动：请另一位督导审核。")

    def _new_version(self, action: str, row: KnowledgeChange, now: dt.datetime) -> int:
        version = KnowledgeVersion(action=action, change_id=row.id, actor=self.actor.label, at=now)
        self.session.add(version)
        self.session.flush()
        return version.id

    def _mark_group(self, row: KnowledgeChange, status: str, note: str) -> None:
        group = self.session.get(QuestionGroup, row.group_id) if row.group_id else None
        if group is None:
            return
        group.status, group.updated_by, group.updated_at = status, self.actor.label, utcnow()
        group.note = (f"{group.note}\n{note}" if group.note else note)[-2000:]
        self._audit("kb_group_status", row, f"问题组#{group.id}改为{STATUS_LABELS[status]}")

    def _audit(self, action: str, row: KnowledgeChange, detail: str) -> None:
        self.session.add(AuditEvent(actor=self.actor.label, action=action, lead_ref=None, detail=detail))


def county_today(runtime) -> dt.date:
    """Today in the county's time zone ([workbench] timezone)."""
    import zoneinfo

    return dt.datetime.now(zoneinfo.ZoneInfo(runtime.config.workbench.timezone)).date()
