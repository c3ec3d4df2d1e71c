"""Command words: a message that is exactly one (留言, 取消, 返回, 跳过 …) is that command.

The words are knowledge/commands.yaml's, read into KnowledgeBase.commands; they
are compared with the message without spaces and punctuation, case folded.
"""
from __future__ import annotations

from collections.abc import Mapping, Set

from bot.textnorm import compact_text


def command_of(commands: Mapping[str, Set[str]], text: str) -> str | None:
    """The command a message is, if it is exactly one of the command words."""
    word = compact_text(text)
    for name, words in commands.items():
        if word in words:
            return name
    return None
