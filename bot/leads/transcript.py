"""The screening conversation kept with the lead, so a caseworker reads how the resident put it.

While the screening runs, each turn (the resident's words, the bot's replies, the question
they answered) is kept raw inside the screening state, which is encrypted in the
conversation row and deleted with it like the answers themselves. At submission the
turns are scrubbed and sealed into the lead:

- the applicant's name, ID number and phone — the final answers, and whatever the resident
  typed at those questions (a name corrected later included) — are masked wherever they
  appear, in the resident's words and in the bot's read-backs and summary alike;
- any other ID-, phone- or account-like digit run is replaced (bot.privacy.scrub_personal_data).

The lead page shows the result; nothing raw leaves the screening state.

    transcript.record(sc, text, reply.messages, asked)   # each screening turn (bot/engine.py)
    transcript.attach(runtime, sc)                       # once it is submitted
"""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import update

from bot.privacy import mask_id_number, mask_name, mask_phone, scrub_personal_data
from bot.storage.models import Lead

MAX_TURNS = 60          # the latest turns of a screening (a typical one has about 20)
MAX_CHARS = 600         # per message, after scrubbing
PERSONAL_MASKS = {"name": mask_name, "id_number": mask_id_number, "phone": mask_phone}
HIDDEN = {"name": "（姓名已隐去）", "id_number": "（身份证号已隐去）", "phone": "（手机号已隐去）"}


def record(sc, resident: str, bot: list[str], asked: str | None) -> None:
    """Add one turn to the screening state (raw: the state is sealed, and scrubbed at submission)."""
    turns = sc.transcript
    turns.append({"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  "asked": asked, "resident": resident or "", "bot": list(bot)})
    del turns[:-MAX_TURNS]


def scrubbed(sc) -> list[dict]:
    """The turns as the lead keeps them: personal values masked, digit runs replaced."""
    values = sc.values
    secrets: dict[str, str] = {}     # a raw text → what replaces it
    for field, mask in PERSONAL_MASKS.items():
        if values.get(field):
            secrets[str(values[field])] = mask(str(values[field]))
    for turn in sc.transcript:
        said = (turn.get("resident") or "").strip()
        if turn.get("asked") in HIDDEN and len(said) >= 2:
            secrets.setdefault(said, HIDDEN[turn["asked"]])
    ordered = sorted((s for s in secrets if len(s) >= 2), key=len, reverse=True)  # 刘桂英 before 桂英

    def clean(text: str) -> str:
        # Each secret becomes a private-use marker first, so the general scrub that follows
        # cannot rewrite what replaced it ("（姓名已隐去）" read as 姓名 + a name).
        for n, secret in enumerate(ordered):
            text = text.replace(secret, chr(0xE000 + n))
        text = scrub_personal_data(text)
        for n, secret in enumerate(ordered):
            text = text.replace(chr(0xE000 + n), secrets[secret])
        return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"

    return [{"at": turn.get("at"), "resident": clean(turn.get("resident") or ""),
             "bot": [clean(m) for m in turn.get("bot") or ()]} for turn in sc.transcript]


def attach(runtime, sc) -> None:
    """Seal the scrubbed transcript into the lead just submitted (nothing for another ending);
    written once (a retried turn finds it there)."""
    ref = sc.ref
    if sc.done is None or sc.done.value != "submitted" or not ref:
        return
    sealed = runtime.protector.encrypt(json.dumps(scrubbed(sc), ensure_ascii=False))
    with runtime.db.unit_of_work() as session:
        session.execute(update(Lead).where(Lead.ref == ref, Lead.transcript.is_(None)).values(transcript=sealed))
