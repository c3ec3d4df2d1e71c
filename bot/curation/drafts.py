"""A change as a caseworker writes it: the form's fields checked and turned into a payload.

The checks here are the ones a person can fix on the form (a missing 文件号, too few
phrasings, a word already in the lexicon); the knowledge base's own validation and the
evaluation sets run after, in the check before publishing (bot/curation/checks.py).
"""
from __future__ import annotations

import datetime as dt
import re

from bot.curation.overlay import ENTRY, KINDS, PHRASING, SYNONYM
from bot.errors import JiuzhuError
from bot.knowledge import KnowledgeBase
from bot.privacy import scrub_personal_data

MAX_PHRASING = 120
MAX_WORD = 20
ENTRY_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
MIN_QUESTIONS = 3
_LIST_SPLIT = re.compile(r"[,，、;；\s]+")


class DraftError(JiuzhuError):
    """What is wrong with a draft, in words for the person who wrote it."""


def payload_of(kind: str, form, kb: KnowledgeBase, today: dt.date) -> dict:
    """The payload of a change of `kind` from the form's fields (DraftError says what to fix)."""
    if kind not in KINDS:
        raise DraftError("未知的改动类型。")
    return {PHRASING: _phrasing, SYNONYM: _synonym, ENTRY: _entry}[kind](form, kb, today)


def summary(kind: str, payload: dict, kb: KnowledgeBase | None = None) -> str:
    """One line saying what the change does."""
    if kind == PHRASING:
        title = kb.entry(payload["entry_id"]).title if kb and kb.has_entry(payload["entry_id"]) else payload["entry_id"]
        return f"为“{title}”新增问法“{payload['text']}”"
    if kind == SYNONYM:
        return f"词库：“{payload['variant']}”读作“{payload['canonical']}”"
    return f"新条目“{payload['title']}”（{payload['topic']}，依据：{payload['source']}）"


def _phrasing(form, kb: KnowledgeBase, _today) -> dict:
    entry_id = _text(form, "entry_id")
    if not entry_id or not kb.has_entry(entry_id):
        raise DraftError("请选择要加问法的条目。")
    text = _clean(form, "text", MAX_PHRASING, "问法")
    if text in kb.entry(entry_id).questions:
        raise DraftError("这个条目已经有这条问法。")
    return {"entry_id": entry_id, "text": text}


def _synonym(form, kb: KnowledgeBase, _today) -> dict:
    variant = _clean(form, "variant", MAX_WORD, "说法")
    canonical = _clean(form, "canonical", MAX_WORD, "标准词")
    if any(c.isspace() for c in variant + canonical):
        raise DraftError("说法和标准词都不能有空格。")
    if variant == canonical:
        raise DraftError("说法和标准词不能相同。")
    if variant in kb.synonyms:
        known = kb.synonyms[variant]
        raise DraftError(f"“{variant}”已在词库中（读作“{known}”）。" if known == canonical
                         else f"“{variant}”已读作“{known}”，不能再读作“{canonical}”。")
    if canonical in kb.synonyms:
        raise DraftError(f"“{canonical}”本身是“{kb.synonyms[canonical]}”的说法，请直接用“{kb.synonyms[canonical]}”作标准词。")
    return {"variant": variant, "canonical": canonical}


def _entry(form, kb: KnowledgeBase, today: dt.date) -> dict:
    entry_id = _text(form, "id").lower()
    if not ENTRY_ID.match(entry_id) or len(entry_id) > 64:
        raise DraftError("条目编号用小写字母、数字和连字符，如 dibao-houses-02。")
    if kb.has_entry(entry_id):
        raise DraftError(f"已有编号为 {entry_id} 的条目。")
    topic = _text(form, "topic")
    if topic not in kb.topics:
        raise DraftError("请选择主题。")
    questions = list(dict.fromkeys(scrub_personal_data(q.strip())[:MAX_PHRASING]
                                   for q in _text(form, "questions").splitlines() if q.strip()))
    if len(questions) < MIN_QUESTIONS:
        raise DraftError(f"至少写{MIN_QUESTIONS}种问法（每行一种）。")
    source = _text(form, "source")
    if not source:
        raise DraftError("请写明依据的文件（文件号），如 赣民字〔2024〕12号 第五条。")
    checked = _text(form, "checked")
    try:
        checked_on = dt.date.fromisoformat(checked) if checked else today
    except ValueError:
        raise DraftError("核对日期的格式是 2026-01-31。") from None
    if checked_on > today:
        raise DraftError("核对日期不能晚于今天。")
    payload = {"id": entry_id, "topic": topic, "title": _clean(form, "title", 60, "标题"),
               "questions": questions,
               "keywords": [k for k in _LIST_SPLIT.split(_text(form, "keywords")) if k][:20],
               "answer": _clean(form, "answer", 2000, "答案"), "sms": _clean(form, "sms", 300, "短信版答案"),
               "source": source[:200], "checked": checked_on.isoformat()}
    return payload


def _text(form, name: str) -> str:
    return (form.get(name) or "").strip()


def _clean(form, name: str, limit: int, label: str) -> str:
    value = _text(form, name)
    if not value:
        raise DraftError(f"请填写{label}。")
    if len(value) > limit:
        raise DraftError(f"{label}最多{limit}个字。")
    if scrub_personal_data(value) != value:
        if name in ("answer", "sms"):
            raise DraftError(f"{label}里有长串数字或姓名：热线、标准等县级数字请用占位符"
                             "（如 {assistance_hotline}、{dibao_rural}），个人信息请删去。")
        raise DraftError(f"{label}里像是有身份证号、电话或姓名，请删去。")
    return value
