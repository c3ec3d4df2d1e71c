"""`jiuzhu demo`: demo accounts, leads and 留言 for trying the workbench (development only).

Idempotent, so `scripts/dev` runs it at every start: accounts are made once, each demo
lead once (a fixed submission key), the rest only along with the lead it belongs to.
The households are invented; their programmes, reasons and documents come from the
real rules and today's config.toml figures. One lead is a real SMS screening through
the engine (so its transcript is there), one resident has left a 留言, one lead is
being worked, one is past the overdue days.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from bot.accounts import AccountService
from bot.errors import JiuzhuError
from bot.messages import IncomingMessage
from bot.runtime import Runtime
from bot.screening.parsing.identity import id_check_digit
from bot.storage.models import Lead, User

log = logging.getLogger(__name__)

DEMO_USERS = (("demo", "supervisor", ()), ("demo-jiangbei", "caseworker", ("江背镇",)), ("demo-admin", "admin", ()))
DEMO_PASSWORD = "demo-jiuzhu"
# Invented households (names, numbers are fake; the ID numbers have valid check digits only).
DEMO_HOUSEHOLDS = (
    dict(name="刘桂英", township="江背镇", village="塘石村", residence="rural", age=67, household_size=2,
         household_monthly_income=600, owns_vehicle=False, house_count=1, savings=3000, labor_capacity=False,
         has_supporter=True, disability_level=2, serious_illness=True, medical_expense_year=8000,
         emergency=False, program="dibao"),
    dict(name="陈冬生", township="潋江镇", village="城北社区", residence="urban", age=45, household_size=4,
         household_monthly_income=2400, owns_vehicle=False, house_count=1, savings=5000, labor_capacity=True,
         has_supporter=False, serious_illness=True, medical_expense_year=36000, emergency=False, program="yiliao"),
    dict(name="钟秀兰", township="江背镇", village="江背村", residence="rural", age=81, household_size=1,
         household_monthly_income=0, owns_vehicle=False, house_count=1, savings=0, labor_capacity=False,
         has_supporter=False, emergency=False, program="tekun"),
    dict(name="黄志强", township="高兴镇", village="高兴村", residence="rural", age=38, household_size=3,
         household_monthly_income=1500, owns_vehicle=False, house_count=1, savings=1000, labor_capacity=True,
         has_supporter=False, emergency=True, emergency_description="房屋失火", program="linshi"),
    dict(name="谢小梅", township="江背镇", village="长岭村", residence="rural", age=29, household_size=3,
         household_monthly_income=2800, owns_vehicle=False, house_count=1, savings=2000, labor_capacity=True,
         has_supporter=False, emergency=False, program="bianyuan"),
)
WORKED, OVERDUE, ASKS = 2, 3, 1     # which household is being worked, is overdue, has left a 留言
QUESTION = "请问低保批下来以后，钱是每个月几号打到卡上？"
# A resident screening by SMS, in their own words (the lead then has its transcript).
SCREENING_PHONE = "+8613800000099"
SCREENING = {
    "consent": "同意", "program": "低保", "name": "罗春花", "id_number": "360732195803120027",
    "age": "68", "township": "江背", "village": "坪石村", "residence": "农村", "household_size": "两个人",
    "household_monthly_income": "一个月七八百块", "owns_vehicle": "冇车", "house_count": "一栋老屋",
    "savings": "冇存款", "labor_capacity": "做不动了", "has_supporter": "儿子在外面打工，自己都顾不过来",
    "disability_level": "冇", "serious_illness": "老伴有高血压，常年吃药", "medical_expense_year": "三千左右",
    "emergency": "冇", "emergency_description": "冇", "confirm": "对",
}


def register(sub, common) -> None:
    """Add `demo`."""
    demo = sub.add_parser("demo", parents=[common],
                          help="demo workbench accounts and leads (development mode only; idempotent)")
    demo.set_defaults(func=run_demo)


def run_demo(args) -> int:
    """Create what is missing and say how to log in."""
    runtime = Runtime.from_path(args.config)
    made = ensure_demo(runtime)
    print(f"demo: {made} new demo lead(s); " + accounts_line())
    return 0


def accounts_line() -> str:
    """The demo accounts and their password, for the console."""
    return "accounts " + ", ".join(f"{u} ({role})" for u, role, _ in DEMO_USERS) + f", password {DEMO_PASSWORD}"


def ensure_demo(runtime) -> int:
    """The demo accounts, leads and 留言; the number of leads created now."""
    if runtime.config.mode != "development":
        raise JiuzhuError("jiuzhu demo runs only in development mode (it makes accounts with a known password)")
    with runtime.db.unit_of_work() as session:
        accounts = AccountService(session, runtime.config.county.townships)
        existing = {a.username for a in accounts.list()}
        for username, role, townships in DEMO_USERS:
            if username not in existing:
                accounts.add(username, role, DEMO_PASSWORD, townships, actor="demo")
    made = sum(_household(runtime, number, household) for number, household in enumerate(DEMO_HOUSEHOLDS, 1))
    return made + _screening(runtime)


def _household(runtime, number: int, household: dict) -> bool:
    """One invented household's lead, with its part of the demo story; False if it exists."""
    from bot.screening.submission import lead_programs

    key = f"demo:{number}"
    if runtime.leads._by_submission(key):
        return False
    channel = "sms" if number % 2 else "wechat"
    user_id = f"+86138000{number:05d}" if channel == "sms" else f"demo-openid-{number}"
    values = {**household, "id_number": _demo_id(number, household["age"]), "phone": f"1380000{number:04d}"}
    assessment = runtime.screener.rules.assess(values)
    ref = runtime.leads.create(channel=channel, user_key=runtime.engine.store.user_key(channel, user_id),
                               values=values, programs=lead_programs(assessment), urgency=assessment.urgency,
                               documents=list(assessment.documents), consent={"given": True, "demo": True},
                               submission_key=key)
    if number == ASKS:   # the resident writes 留言 on their channel, as anyone would
        for text in ("留言", QUESTION):
            runtime.engine.handle(IncomingMessage(channel=channel, user_id=user_id, text=text))
    if number == OVERDUE:
        days = runtime.config.workbench.overdue_days + 2
        with runtime.db.unit_of_work() as session:   # computed here: SQLite has no date arithmetic
            lead = session.execute(select(Lead).where(Lead.ref == ref)).scalar_one()
            lead.created_at = lead.updated_at = lead.created_at - dt.timedelta(days=days)
    if number == WORKED:
        _work(runtime, ref)
    return True


def _work(runtime, ref: str) -> None:
    """The county supervisor claims the lead and has called the applicant (no message sent)."""
    from bot.leads import LeadService

    with runtime.db.unit_of_work() as session:
        user = session.execute(select(User).where(User.username == "demo")).scalar_one()
        service = LeadService(session, runtime, AccountService(session, runtime.config.county.townships).actor(user))
        service.claim(ref)
        service.set_status(ref, "contacted", "已电话联系，约好下周入户核查。", notify=False)


def _screening(runtime) -> int:
    """A real SMS screening through the engine; 1 when its lead was made now."""
    key = runtime.engine.store.user_key("sms", SCREENING_PHONE)
    if runtime.leads.for_user(key):
        return 0
    reply = runtime.engine.handle(IncomingMessage(channel="sms", user_id=SCREENING_PHONE, text="我想申请低保"))
    for _ in range(60):
        if reply.done or reply.expecting not in SCREENING:
            break
        reply = runtime.engine.handle(IncomingMessage(channel="sms", user_id=SCREENING_PHONE,
                                                      text=SCREENING[reply.expecting]))
    if not reply.application_ref:   # the flow changed under the script: the demo goes on without it
        log.warning("demo screening stopped at %s; no lead from it", reply.expecting)
        runtime.engine.handle(IncomingMessage(channel="sms", user_id=SCREENING_PHONE, text="退出"))
        return 0
    return 1


def _demo_id(number: int, age: int) -> str:
    """A fake 18-character ID number of the county (valid check digit, invented)."""
    first17 = f"360732{2026 - age:04d}0101{number:03d}"
    return first17 + id_check_digit(first17)
