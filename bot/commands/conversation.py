"""`jiuzhu chat` (try the bot in a terminal) and `jiuzhu unanswered` (what it could not answer)."""
from __future__ import annotations

import getpass
import sys

from bot.domain import CHANNELS
from bot.messages import IncomingMessage
from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add `chat`, `unanswered`, `purge` and `retention`."""
    chat = sub.add_parser("chat", parents=[common], help="talk to the bot in this terminal")
    chat.add_argument("--channel", choices=CHANNELS, default="wechat",
                      help="shape replies as this channel would (default wechat)")
    chat.add_argument("--user", help="conversation id (default: terminal-<your login>)")
    chat.set_defaults(func=run_chat)

    un = sub.add_parser("unanswered", parents=[common],
                        help="questions the bot could not answer, grouped, most frequent first")
    un.add_argument("--limit", type=int, default=50)
    un.add_argument("--status", choices=("open", "resolved", "ignored"), default="open",
                    help="the groups of this status in the curation queue (default open)")
    un.set_defaults(func=run_unanswered)

    purge = sub.add_parser("purge", parents=[common],
                           help="delete abandoned screenings and old message ids (run daily)")
    purge.set_defaults(func=run_purge)

    keep = sub.add_parser("retention", parents=[common],
                          help="delete transcripts and unanswered-question texts older than [retention]")
    keep.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    keep.set_defaults(func=run_retention)


def run_chat(args) -> int:
    """A terminal conversation: type a question, read the reply; empty line or Ctrl-D quits."""
    runtime = Runtime.from_path(args.config)
    engine = runtime.start_conversations()
    user = args.user or f"terminal-{getpass.getuser()}"
    greeting = next(e for e in runtime.kb.entries if e.topic == "meta.greeting")
    # start_conversations() opened the database before the knowledge base, so kb holds the files plus
    # the changes published in the workbench (bot/curation/live.py), as the servers answer with.
    print(f"救助通 · {runtime.config.county.name}（{args.channel}）— 直接回车或 Ctrl-D 退出")
    print(_knowledge_line(runtime) + "\n")
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


def _knowledge_line(runtime) -> str:
    """Which knowledge the answers come from (printed once, so a tester knows what they try)."""
    version, loaded = runtime.knowledge_version, runtime.knowledge_loaded
    if version is None:
        return "knowledge: the files only (the database could not be read: published changes left out)"
    kept = len(loaded.kept) if loaded is not None else 0
    return f"knowledge version {version}: the files plus {kept} published change(s)"


def _indent(text: str) -> str:
    return "救助通：" + text.replace("\n", "\n        ")


def run_unanswered(args) -> int:
    """Print the curation queue's groups of similar unanswered questions (the workbench's
    /workbench/curation shows the same groups, with their status and what was done)."""
    from bot.curation import groups

    runtime = Runtime.from_path(args.config)
    with runtime.db.unit_of_work() as session:
        rows, total, _ = groups.queue(session, args.status, page=1)
    if not rows:
        print(f"no {args.status} unanswered questions")
        return 0
    for g in rows[: args.limit]:
        seen = g.last_seen.strftime("%Y-%m-%d %H:%M") if g.last_seen else "?"
        print(f"{g.count:4d}× {g.text}  [#{g.id}, last {seen}]" + (f"  — {g.note}" if g.note else ""))
        for ex in g.examples:
            print(f"        ~ {ex}")
    print(f"{sum(g.count for g in rows)} questions in {len(rows)} of {total} {args.status} groups "
          "(most frequent first; /workbench/curation to act on them)")
    return 0


def run_purge(args) -> int:
    """Expire abandoned screenings (config: conversation.screening_expiry_days) and prune dedup rows."""
    from bot.housekeeping import purge

    runtime = Runtime.from_path(args.config)
    done = purge(runtime)
    days = runtime.config.screening_expiry_days
    print(f"purged {done.screenings} abandoned screening(s) older than {days} days, "
          f"{done.message_ids} old message id(s)")
    _print_retention(runtime, done.retention, "deleted")
    return 0


def run_retention(args) -> int:
    """Apply [retention] now (or count what it would delete)."""
    from bot.retention import apply_retention

    runtime = Runtime.from_path(args.config)
    deleted = apply_retention(runtime.db, runtime.config.retention, dry_run=args.dry_run)
    _print_retention(runtime, deleted, "would delete" if args.dry_run else "deleted")
    return 0


def _print_retention(runtime, deleted, verb: str) -> None:
    keep = runtime.config.retention
    print(f"retention {verb} {deleted.transcripts} transcript(s) older than {keep.transcript_days} days, "
          f"{deleted.question_texts} unanswered question text(s) older than {keep.unanswered_text_days} days")
