"""The screening's own sentences (knowledge/screening/messages.yaml) and value display."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.choices import MENUS, Menu, numbered_lines
from bot.errors import KnowledgeError
from knowledge import KNOWLEDGE_DIR

REQUIRED = ("retention", "reask", "reask_problem", "too_many_tries", "skipped", "callback_noted",
            "corrected", "not_corrected", "went_back", "nothing_to_go_back", "restarted", "exited",
            "consent_refused", "resume_prompt", "expired", "digression_back", "offer_screening",
            "correct_hint", "submission", "summary_line", "summary_header",
            "progress_none", "progress_line", "progress_header", "progress_foreign_ref", "status",
            "channel_names", "labels", "values", "programs", "link_found_wechat", "link_found_sms",
            "link_code_sms", "link_code_wrong", "link_joined", "link_declined", "status_sms",
            "ask_again", "consent_why", "consent_again", "consent_again_sms",
            "consent_unclear", "greeting_back", "consent_take_time", "consent_menu", "consent_callback",
            "consent_callback_note", "controls_hint", "controls_hint_sms", "confirm_again", "confirm_again_sms",
            "confirm_unclear", "leave_confirm", "leave_declined", "readback", "readback_emergency",
            "readback_reply", "readback_no", "help_skip", "slot_help",
            "status_wechat", "contact_sms", "contact_wechat", "reply_sms", "reply_wechat",
            "handler_township", "handler_county", "progress_handler", "menu_style", "reply_with_number",
            "list_separator", "part_separator", "awaiting_lost")
# The texts after submitting (bot/screening/submission.py), by part.
SUBMISSION = {
    "wechat": ("head", "urgent", "urgent_no_township", "programs", "program_line", "contact_township",
               "contact_county", "contact_urgent", "contact_none", "documents", "fallback"),
    "sms": ("head", "urgent", "urgent_no_township", "programs", "no_program", "contact_township",
            "contact_county", "contact_urgent", "contact_none", "documents", "single_person",
            "single_person_fallback", "fallback"),
    "confirm_sms": ("township", "county", "urgent", "urgent_no_township"),
}


class ScreeningTexts:
    """Lookup of screening sentences, slot labels and how values read to a resident."""

    def __init__(self, doc: dict):
        self.doc = doc

    @classmethod
    def load(cls, path: Path | None = None) -> ScreeningTexts:
        """Read and check messages.yaml."""
        path = Path(path or KNOWLEDGE_DIR / "screening" / "messages.yaml")
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        missing = [k for k in REQUIRED if k not in doc]
        submission = doc.get("submission") if isinstance(doc.get("submission"), dict) else {}
        missing += [f"submission.{part}.{key}" for part, keys in SUBMISSION.items() for key in keys
                    if not isinstance(submission.get(part), dict) or not submission[part].get(key)]
        missing += [] if submission.get("center_default") else ["submission.center_default"]
        missing += [problem for menu in MENUS for problem in menu.problems(doc)]
        if missing:
            raise KnowledgeError([f"screening/messages.yaml: missing {k!r}" for k in missing])
        return cls(doc)

    def get(self, key: str, **values: Any) -> str:
        """A sentence with its placeholders filled."""
        return str(self.doc[key]).format(**values)

    def menu(self, menu: Menu, **values: Any) -> str:
        """One of our numbered questions (prompt and options), with its placeholders filled."""
        return menu.render(self.doc, **values)

    def numbered(self, labels, kb, sms: bool) -> str:
        """A question's choices as numbered lines (messages.yaml's choice_line); on SMS, how to reply."""
        channel = "sms" if sms else "wechat"
        lines = numbered_lines(labels, lambda n, label: kb.message("choice_line", channel, number=n, title=label))
        return lines + ("\n" + self.doc["reply_with_number"] if sms else "")

    def join(self, items) -> str:
        """Items of a list inside a sentence (documents, programmes, townships): 户口簿、身份证."""
        return self.doc["list_separator"].join(items)

    def join_parts(self, parts) -> str:
        """Parts of one compact line (the SMS summary): 姓名黄春生，年龄47岁."""
        return self.doc["part_separator"].join(parts)

    def label(self, slot: str) -> str:
        """How a slot is named to the resident (收入, 家庭人口 …)."""
        return self.doc["labels"].get(slot, slot)

    def program(self, program: str) -> str:
        """低保, 特困供养 … for a program id."""
        return self.doc["programs"].get(program, program)

    def display(self, slot: str, value: Any) -> str:
        """A normalised value as a resident reads it (2 → 2口人, True → 有)."""
        v = self.doc["values"]
        if value is None:
            return v["none"]
        if slot == "program":
            return self.program(value)
        if slot == "residence":
            return v.get(value, str(value))
        if isinstance(value, bool):
            if slot == "labor_capacity":
                return v["able"] if value else v["unable"]
            if slot == "has_supporter":  # "没有" alone would deny the son who cannot support
                return v["supporter_able"] if value else v["supporter_unable"]
            return v["present"] if value else v["absent"]
        number = f"{value:.0f}" if isinstance(value, float) and value.is_integer() else str(value)
        template = {"household_size": "people", "house_count": "houses", "age": "years",
                    "disability_level": "level", "household_monthly_income": "yuan",
                    "savings": "yuan", "medical_expense_year": "yuan"}.get(slot)
        return v[template].format(n=number) if template else number
