"""`jiuzhu brief`: the weekly brief for the county's leadership, printed or queued in the outbox."""
from __future__ import annotations

import sys

from bot.domain import CHANNELS
from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add `jiuzhu brief` (run it from cron on Monday morning: a second run the same week queues nothing)."""
    brief = sub.add_parser("brief", parents=[common], help="the weekly brief for the county leadership")
    brief.add_argument("--to", action="append", default=[], metavar="CHANNEL:RECIPIENT",
                       help="sms:+8613… or wechat:OPENID; repeat for each recipient (none: print only)")
    brief.set_defaults(func=run_brief)


def run_brief(args) -> int:
    """Print the brief; with --to, queue it for each recipient through the outbox."""
    from bot.insight import brief

    recipients = []
    for target in args.to:
        channel, _, recipient = target.partition(":")
        if channel not in CHANNELS or not recipient:
            print(f"brief: --to {target!r}: expected sms:+86… or wechat:OPENID", file=sys.stderr)
            return 2
        recipients.append((channel, recipient))
    runtime = Runtime.from_path(args.config)
    today = runtime.insight.today()
    if not recipients:
        with runtime.db.unit_of_work() as session:
            print(brief.compose(session, runtime, today))
        return 0
    text, queued = brief.send(runtime, recipients, today)
    print(text)
    print(f"brief: queued for {queued} of {len(recipients)} recipient(s) (the rest had this week's already)")
    return 0
