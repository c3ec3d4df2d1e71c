"""Numbered choices, read and written in one place.

A resident answers a list of options with its number: "2", "２", "（2）", "二".
`choice_number` reads such a reply; `numbered_lines` writes a list ("1. 低保"),
`Menu.render` an inline offer ("回复1先跳过，回复2……"). A Menu declares what each
number means, so the number a resident reads and the number the code acts on
come from the same declaration. The words themselves live in knowledge/: a
menu's prompt and option labels in knowledge/screening/messages.yaml under
the menu's key, the line formats beside them.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.textnorm import normalize_text

_CHOICE = re.compile(r"^[(（]?([0-9一二三四五])[)）.。、]?$")
_CN_DIGIT = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}


def choice_number(text: str) -> int | None:
    """'2', '２', '（2）', '二' → 2; anything else (a sentence, '12') → None."""
    m = _CHOICE.match(normalize_text(text))
    if not m:
        return None
    d = m.group(1)
    return int(d) if d.isdigit() else _CN_DIGIT[d]


def numbered_lines(labels: Sequence[str], line: Callable[[int, str], str]) -> str:
    """One line per label, numbered from 1, each as `line(number, label)` words it ("1. 低保")."""
    return "\n".join(line(i, label) for i, label in enumerate(labels, 1))


@dataclass(frozen=True)
class Menu:
    """Options offered by number: the option at place n is what a reply of n means."""

    key: str                    # where its prompt and labels are, in knowledge/screening/messages.yaml
    options: tuple[str, ...]    # option names, in the order they are numbered

    def picked(self, text: str) -> str | None:
        """The option the reply names by its number, else None."""
        number = choice_number(text)
        return self.options[number - 1] if number is not None and 1 <= number <= len(self.options) else None

    def render(self, doc: Mapping, **values) -> str:
        """The prompt and its numbered options, as messages.yaml words them."""
        body = doc[self.key]
        style = doc["menu_style"]
        options = style["separator"].join(style["option"].format(number=i, label=body["options"][name])
                                          for i, name in enumerate(self.options, 1))
        return (body["prompt"] + options + style["end"]).format(**values)

    def problems(self, doc: Mapping) -> list[str]:
        """What messages.yaml lacks for this menu (checked at start-up)."""
        body = doc.get(self.key)
        if not isinstance(body, Mapping) or not isinstance(body.get("prompt"), str):
            return [f"{self.key}: needs a prompt and options"]
        labels = body.get("options")
        if not isinstance(labels, Mapping) or set(labels) != set(self.options):
            return [f"{self.key}.options: must label exactly {', '.join(self.options)}"]
        return []


# The screening's menus (bot/screening/): the number → meaning of each, declared once.
TOO_MANY_TRIES = Menu("too_many_tries", ("skip", "callback", "again", "leave"))
CONSENT_MENU = Menu("consent_menu", ("again", "refuse", "callback"))
LEAVE_CONFIRM = Menu("leave_confirm", ("leave", "stay"))
RESUME = Menu("resume_prompt", ("continue", "restart"))
CONSENT_SMS = Menu("consent_again_sms", ("yes", "no"))
LINK_OFFER = Menu("link_found_sms", ("join", "start_here"))
RECHECK_SMS = Menu("recheck_ask_sms", ("yes", "no"))   # 政策找人 consent on SMS (bot/recheck.py)
MENUS = (TOO_MANY_TRIES, CONSENT_MENU, LEAVE_CONFIRM, RESUME, CONSENT_SMS, LINK_OFFER, RECHECK_SMS)
