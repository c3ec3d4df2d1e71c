"""What the resident reads once the application is submitted, on each channel.

One promise only, and one we can keep: the township's service centre calls
within the configured working days when the township is known, the county
bureau when it was skipped (the lead then has no township to be routed to);
an emergency is told to seek help now instead of waiting for that call; with
no phone there is no call to promise. "初步判断，以乡镇审核为准" is said once.
Texts: knowledge/screening/messages.yaml `submission`.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config
from bot.messages import Reply
from bot.screening.rules import Assessment
from bot.screening.state import Ending, ScreeningState
from bot.screening.texts import ScreeningTexts

SMS_DOCUMENTS = 3   # what to bring, named on SMS before "等材料"
# Reason grounds that change what an SMS reader should do, with a short text of their own.
SMS_GROUNDS = ("single_person", "single_person_fallback")


@dataclass(frozen=True)
class Contact:
    """Who follows the application up, as the resident is told."""

    township: str | None   # None: skipped, the county bureau routes it
    center: str            # where to go or whom the call comes from
    phone: bool            # a number to call back was given
    urgent: bool           # a sudden event: seek help now, do not wait

    @property
    def who(self) -> str:
        """The contact text's key: township, county or, without a phone, none."""
        return "none" if not self.phone else "township" if self.township else "county"


def contact_for(config: Config, texts: ScreeningTexts, values: dict, assessment: Assessment) -> Contact:
    """Who will contact the resident, from the answers and the assessment."""
    township = values.get("township") or None
    center = (config.county.service_centers.get(township) if township else None) \
        or texts.doc["submission"]["center_default"]
    return Contact(township, center, bool(values.get("phone")), assessment.emergency)


def submitted_text(config: Config, texts: ScreeningTexts, ref: str, values: dict,
                   assessment: Assessment, channel: str, forms: frozenset[str] = frozenset()) -> str:
    """The reply to the confirmed summary: reference, likely programs, who calls, what to bring."""
    contact = contact_for(config, texts, values, assessment)
    say = _Say(config, texts, "sms" if channel == "sms" else "wechat", ref=ref, center=contact.center,
               township=contact.township or "")
    if channel == "sms":
        return _sms(say, config, assessment, contact, forms)
    lines = [say("head")]
    if contact.urgent:
        lines.append(say("urgent" if contact.township else "urgent_no_township"))
    lines.append(say("programs"))
    lines += [say("program_line", program=texts.program(p.program), reason=p.reason)
              for p in assessment.programs]
    lines += [note.text for note in assessment.notes]
    if contact.urgent:
        lines.append(say("contact_urgent") if contact.phone else "")
    else:
        lines.append(say(f"contact_{contact.who}"))
    lines.append(say("documents", documents=texts.join(assessment.documents)))
    if contact.phone and not contact.urgent:
        lines.append(say("fallback"))
    return "\n".join(line for line in lines if line)


def _sms(say: _Say, config: Config, assessment: Assessment, contact: Contact,
         forms: frozenset[str]) -> str:
    """The SMS reply: the essentials, then optional parts while it fits the configured segments."""
    names = [say.texts.program(p.program) for p in assessment.programs]
    if contact.urgent:
        contact_part = say("contact_urgent") if contact.phone else ""
    else:
        contact_part = say(f"contact_{contact.who}")
    parts = [say("head"),
             say("urgent" if contact.township else "urgent_no_township") if contact.urgent else "",
             say("programs", programs=say.texts.join(names)) if names else say("no_program"),
             contact_part]
    # What to bring from home (the forms are handed out at the window), the first few.
    documents = [d for d in assessment.documents if d not in forms][:SMS_DOCUMENTS]
    budget = _sms_budget(config)
    while len(documents) > 1 and \
            _units("".join(parts) + say("documents", documents=say.texts.join(documents))) > budget:
        documents.pop()
    parts.append(say("documents", documents=say.texts.join(documents)))
    grounds = {g for p in assessment.programs for g in p.grounds}
    extras = [say(g) for g in SMS_GROUNDS if g in grounds][:1]
    if contact.phone and not contact.urgent:
        extras.append(say("fallback"))
    for extra in extras:
        if _units("".join(parts) + extra) <= budget:
            parts.append(extra)
    return "".join(parts)


def confirmation_sms(config: Config, texts: ScreeningTexts, ref: str, values: dict,
                     assessment: Assessment) -> str:
    """The SMS a WeChat applicant gets with the reference: the same promise as on screen."""
    contact = contact_for(config, texts, values, assessment)
    if contact.urgent:
        key = "urgent" if contact.township else "urgent_no_township"
    else:
        key = "township" if contact.township else "county"
    return _Say(config, texts, "confirm_sms", ref=ref, township=contact.township or "")(key)


def submit(screener, state: ScreeningState, ctx, reply: Reply) -> Reply:
    """File the confirmed screening as a lead (once, even when retried), text the applicant on
    WeChat, and tell them what happens next."""
    from bot.screening.notify import notify_submitted

    config, texts, leads = screener.config, screener.texts, screener.leads
    values = screener.applicable(state)
    assessment = screener.rules.assess(values)
    consent = {"given": True, "flow_version": screener.flow.version,
               # screenings begun before consent records were kept: when and where only
               **(state.consent or {"at": state.started.isoformat(), "channel": ctx.channel})}
    ref = leads.create(
        channel=ctx.channel, user_key=ctx.user_key, values=values, programs=lead_programs(assessment),
        urgency=assessment.urgency, documents=list(assessment.documents), consent=consent,
        needs_callback=state.callback,
        # derived from saved state, so a retry after a concurrent update finds the same lead
        submission_key=leads.protector.blind_index("submission", f"{ctx.user_key}|{state.started.isoformat()}"))
    state.done, state.ref = Ending.SUBMITTED, ref
    notify_submitted(screener.runtime, ref, ctx.channel, values,
                     confirmation_sms(config, texts, ref, values, assessment))
    reply.application_ref = ref
    return reply.add(submitted_text(config, texts, ref, values, assessment, ctx.channel, screener.rules.forms))


def lead_programs(assessment: Assessment) -> list[dict]:
    """likely_programs of the lead (contract §3): program and reason, plus the rules and grounds."""
    return [{"program": p.program, "reason": p.reason, "source": p.source, "grounds": list(p.grounds)}
            for p in assessment.programs]


class _Say:
    """Fills the texts of one part of messages.yaml `submission` with the shared values."""

    def __init__(self, config: Config, texts: ScreeningTexts, part: str, **values: str):
        self.texts = texts
        self.part = texts.doc["submission"][part]
        county = config.county
        self.values = {"assistance_hotline": county.hotlines.assistance, "hotline": county.hotlines.government,
                       "bureau": county.bureau, "days": str(config.contact_days), **values}

    def __call__(self, key: str, **values: str) -> str:
        return str(self.part[key]).format(**{**self.values, **values})


def _sms_budget(config: Config) -> int:
    """UCS-2 characters in the configured number of concatenated segments."""
    return config.sms.segment_chars * config.sms.max_segments


def _units(text: str) -> int:
    """Length as a handset counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2
