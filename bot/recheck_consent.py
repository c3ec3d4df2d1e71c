"""The 政策找人 question at the end of a screening, and the resident's reply to it.

Asked once, right after the application is filed (also when nothing looks likely:
those are the households a changed standard may help). The reply is read like the
screening's consent: only an explicit yes (同意, or 1 on SMS) counts; 不同意 (2) is
kept as a no; anything else (a greeting, a question) is not taken as an answer,
nothing is stored, and the message goes on to be answered as usual.
Texts: knowledge/screening/messages.yaml recheck_*; storage: bot/recheck.py.
"""
from __future__ import annotations

from sqlalchemy import select

from bot import outbox, recheck
from bot.dialogue.choices import RECHECK_SMS
from bot.dialogue.state import ConversationMode
from bot.screening.replies import Meaning
from bot.storage.models import Lead

_NUMBERED = {str(i): {"yes": Meaning.YES, "no": Meaning.NO}[name] for i, name in enumerate(RECHECK_SMS.options, 1)}


def ask(runtime, channel: str) -> str:
    """The question, short and numbered on SMS (every character costs there)."""
    texts = runtime.screener.texts
    return texts.menu(RECHECK_SMS) if channel == "sms" else texts.get("recheck_ask")


def offer(runtime, state, message, ref: str, reply) -> None:
    """After a filed screening: ask, and read the next message as the answer.

    On WeChat the question follows the result in the same reply. On SMS the result already
    fills the reply's segments (bot/screening/submission.py), and a question on a second page
    would wait behind "M"; it goes as its own short SMS through the outbox instead.
    """
    state.mode = ConversationMode.RECHECK_CONSENT
    if message.channel == "sms":
        outbox.enqueue(runtime, "sms", message.user_id, ask(runtime, "sms"), f"recheck_ask:{ref}", kind="recheck_ask")
    else:
        reply.add(ask(runtime, message.channel))


def answer(runtime, state, message, text: str, user_key: str, reply) -> bool:
    """Read the reply; True when it was the answer (yes or no), False: route the message as usual."""
    state.mode = None
    reader = runtime.screener.questions.reader
    meaning = reader.read(text, "consent", _NUMBERED if message.channel == "sms" else None)
    texts = runtime.screener.texts
    if meaning not in (Meaning.YES, Meaning.NO):
        reply.add(texts.get("recheck_unclear"))
        return False
    with runtime.db.unit_of_work() as session:
        lead = session.execute(select(Lead).where(Lead.user_key == user_key, Lead.channel == message.channel)
                               .order_by(Lead.created_at.desc(), Lead.id.desc()).limit(1)).scalar_one_or_none()
        if lead is None:  # (deleted meanwhile): nothing to attach the answer to
            return False
        recheck.record(session, runtime, lead, message.channel, message.user_id, text, meaning is Meaning.YES,
                       str(texts.doc.get("recheck_version", "1")), values=dict(lead.fields or {}))
    reply.add(texts.get("recheck_yes" if meaning is Meaning.YES else "recheck_no"))
    return True
