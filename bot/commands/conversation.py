"""`jiuzhu chat` (try the bot in a terminal) and `jiuzhu unanswered` (what it could not answer)."""
from __future__ import annotations

import getpass
import sys

from bot.domain import CHANNELS
from bot.messages import IncomingMessage
from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add `chat` and `unanswered`."""
    chat = sub.add_parser("chat", parents=[common], help="talk to the bot in this terminal")
    chat.add_argument("--channel", choices=CHANNELS, default="wechat",
                      help="shape replies as this channel would (default wechat)")
    chat.add_argument("--user", help="conversation id (default: terminal-<your login>)")
    chat.set_defaults(func=run_chat)

    un = sub.add_parser("unanswered", parents=[common],
                        help="questions the bot could not answer, grouped, most frequent first")
    un.add_argument("--limit", type=int, default=50)
    un.set_defaults(func=run_unanswered)

    purge = sub.add_parser("purge", parents=[common],
                           help="delete abandoned screenings and old message ids (run daily)")
    purge.set_defaults(func=run_purge)


def run_chat(args) -> int:
    """A terminal conversation: type a question, read the reply; empty line or Ctrl-D quits."""
    runtime = Runtime.from_path(args.config)
    engine = runtime.start_conversations()
    user = args.user or f"terminal-{getpass.getuser()}"
    greeting = next(e for e in runtime.kb.entries if e.topic == "meta.greeting")
    print(f"救助通 · {runtime.config.county.name}（{args.channel}）— 直接回车或 Ctrl-D 退出\n")
    print(_indent(greeting.answer_for(args.channel)) + "\n")
    while True:
        try:
            text = input("您：")
        except EOFError:
            print()
            return 0
        if not text.strip():
            return 0
        reply = engine.handle(IncomingMessage(channel=args.channel, user_id=user, text=text))
        for message in reply.messages:
            print(_indent(message) + "\n")
        sys.stdout.flush()


def _indent(text: str) -> str:
    return "救助通：" + text.replace("\n", "\n        ")


def run_unanswered(args) -> int:
    """Print groups of similar unanswered questions."""
    from bot.unanswered import group_unanswered

    runtime = Runtime.from_path(args.config)
    groups = group_unanswered(runtime.db)
    if not groups:
        print("no unanswered questions")
        return 0
    for g in groups[: args.limit]:
        seen = g.last_seen.strftime("%Y-%m-%d %H:%M") if g.last_seen else "?"
        note = f", {g.left_message} left a message" if g.left_message else ""
        print(f"{g.count:4d}× {g.text}  [{'/'.join(sorted(g.channels))}, last {seen}{note}]")
        for ex in g.examples:
            print(f"        ~ {ex}")
    print(f"{sum(g.count for g in groups)} questions in {len(groups)} groups")
    return 0


def run_purge(args) -> int:
    """Expire abandoned screenings (config: conversation.screening_expiry_days) and prune dedup rows."""
    from bot.housekeeping import purge

    runtime = Runtime.from_path(args.config)
    screenings, ids = purge(runtime)
    days = runtime.config.screening_expiry_days
    print(f"purged {screenings} abandoned screening(s) older than {days} days, {ids} old message id(s)")
    return 0
