"""`jiuzhu simulate` (a scripted channel) and `jiuzhu leads` (draft applications), per contract.md §2–3."""
from __future__ import annotations

import getpass
import sys

from bot.commands import print_json
from bot.domain import CHANNELS, LEAD_STATUSES
from bot.messages import IncomingMessage
from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add `simulate`, `leads` and `keygen`."""
    sim = sub.add_parser("simulate", parents=[common],
                         help="a conversation over stdin/stdout: one JSON line per message read")
    sim.add_argument("--channel", choices=CHANNELS, default="wechat")
    sim.add_argument("--user", required=True, help="the channel user id (same id = same conversation)")
    sim.add_argument("--json", action="store_true", help="JSON lines (the contract; default on)")
    sim.set_defaults(func=run_simulate)

    leads = sub.add_parser("leads", help="draft applications from the pre-screening")
    leads_sub = leads.add_subparsers(metavar="ACTION")
    ls = leads_sub.add_parser("list", parents=[common], help="newest first, personal data masked")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--limit", type=int)
    ls.set_defaults(func=run_leads_list)
    show = leads_sub.add_parser("show", parents=[common], help="one draft application")
    show.add_argument("ref")
    show.add_argument("--json", action="store_true")
    show.add_argument("--reveal", action="store_true", help="show personal data in full (audited)")
    show.set_defaults(func=run_leads_show)

    status = leads_sub.add_parser("status", parents=[common],
                                  help="set a lead's status (audited) and text the applicant")
    status.add_argument("ref")
    status.add_argument("status", choices=LEAD_STATUSES)
    status.add_argument("--no-sms", action="store_true", help="do not text the applicant")
    status.set_defaults(func=run_leads_status)

    keygen = sub.add_parser("keygen", help="print a fresh JIUZHU_DATA_KEY")
    keygen.set_defaults(func=run_keygen)


def run_simulate(args) -> int:
    """For every line read, exactly one JSON line out, flushed."""
    runtime = Runtime.from_path(args.config)
    engine = runtime.start_conversations()
    for line in sys.stdin:
        reply = engine.handle(IncomingMessage(channel=args.channel, user_id=args.user,
                                              text=line.rstrip("\r\n")))
        print_json({"messages": reply.messages, "expecting": reply.expecting, "done": reply.done,
                    "application_ref": reply.application_ref})
    return 0


def run_leads_list(args) -> int:
    """One line (JSON or text) per lead, newest first."""
    runtime = Runtime.from_path(args.config)
    store = runtime.leads
    for lead in store.all(limit=args.limit):
        data = store.as_dict(lead)
        if args.json:
            print_json(data)
        else:
            programs = ",".join(p["program"] for p in data["likely_programs"]) or "-"
            print(f"{data['ref']}  {data['created_at'][:16]}  {data['status']:9s} {data['urgency']:6s} "
                  f"{data['township'] or '-':6s} {data['fields'].get('name', '-'):4s} {programs}")
    return 0


def run_leads_show(args) -> int:
    """The lead as JSON (masked unless --reveal, which is audited)."""
    runtime = Runtime.from_path(args.config)
    store = runtime.leads
    lead = store.get(args.ref)
    if lead is None:
        print(f"jiuzhu leads show: no lead {args.ref}", file=sys.stderr)
        return 1
    data = store.as_dict(lead, reveal=args.reveal, actor=f"cli:{getpass.getuser()}")
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            print(f"{key}: {value}")
    return 0


def run_leads_status(args) -> int:
    """Change the status; the applicant gets an SMS through the outbox (sent by `jiuzhu worker`)."""
    from bot.screening.notify import notify_status

    runtime = Runtime.from_path(args.config)
    with runtime.db.unit_of_work() as session:  # the status, its audit row and the SMS: all or none
        lead = runtime.leads.set_status(args.ref, args.status, actor=f"cli:{getpass.getuser()}",
                                        session=session)
        if lead is None:
            print(f"jiuzhu leads status: no lead {args.ref}", file=sys.stderr)
            return 1
        texted = not args.no_sms and notify_status(runtime, lead, session)
    print(f"{lead.ref}: {lead.status}" + ("; SMS queued" if texted else ""))
    return 0


def run_keygen(args) -> int:
    """Print a new data key."""
    from bot.privacy import generate_key

    print(generate_key())
    return 0
