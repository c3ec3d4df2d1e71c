"""The dashboard: what residents ask, where screenings stop, how fast leads are reached.

Every figure comes from bot/insight/dashboard.py, which applies the actor's scope and
hides cells under 5 households; this module only names things, draws the SVG and
writes the same tables as CSV (GET /workbench/dashboard/<table>.csv).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo

from flask import Response, abort, g, render_template, request

from bot.domain import LEAD_STATUS_LABELS
from bot.insight import dashboard as figures
from bot.insight.broadcasts import broadcasts
from bot.publicity.subscribe import load_words
from bot.subscriptions import NOTICES
from web.extensions import runtime_of
from workbench.app import blueprint
from workbench.auth import unit_of_work
from workbench.charts import bars, stacked_bars

PERIODS = (4, 8, 13, 26, 52)            # weeks a page may cover
DEFAULT_WEEKS = 8
CHANNEL_NAMES = {"sms": "短信", "wechat": "微信"}
OUTCOME_NAMES = {"answered": "已解答", "offered": "给出选项", "unanswered": "答不上", "declined": "超出范围"}
UNKNOWN = "未知"
SHORT = {"topics": "主题", "townships": "乡镇", "weeks": "每周", "funnel": "预审完成率", "steps": "在哪一步放弃",
         "leads": "线索状态", "contact": "首次联系", "caseworkers": "经办人", "broadcasts": "政策通知"}


def _period(args) -> tuple[int, dt.date, dt.date]:
    """The weeks asked for (one of PERIODS) and the county's days they cover: whole weeks to today."""
    weeks = args.get("weeks", type=int)
    weeks = weeks if weeks in PERIODS else DEFAULT_WEEKS
    zone = zoneinfo.ZoneInfo(runtime_of().config.workbench.timezone)
    today = dt.datetime.now(dt.timezone.utc).astimezone(zone).date()
    since = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=weeks - 1)
    return weeks, since, today


def _scope(args) -> tuple[figures.Scope, str]:
    """The actor's scope (enforced in the queries), narrowed to one township when the page asks."""
    township = args.get("township", "")
    visible = _townships()
    if township not in visible:
        township = ""
    return figures.Scope.of(g.actor).narrowed(township), township


def _townships() -> list[str]:
    townships = runtime_of().config.county.townships
    scope = figures.Scope.of(g.actor)
    return list(townships) if scope.county else [t for t in townships if t in scope.townships]


def tables(session, scope: figures.Scope, since: dt.date, until: dt.date,
           only: str | None = None) -> dict[str, dict]:
    """Every table of the page (or the one `only` names, for its CSV): id → title, CSV header, rows of
    cells, and the chart drawn from them."""
    runtime = runtime_of()
    topics = runtime.kb.topics
    out: dict[str, dict] = {}

    def wanted(*keys):
        return only is None or only in keys

    def add(key, title, header, rows, chart, caption, note=""):
        out[key] = {"key": key, "title": title, "short": SHORT[key], "header": header, "rows": rows,
                    "chart": chart, "caption": caption, "note": note}

    outcome_header = [OUTCOME_NAMES[o] for o in figures.OUTCOMES]
    rate_header = ["解答率%", "给选项率%", "答不上率%"]

    def question_table(key, title, by, name, note=""):
        rows = figures.questions(session, scope, since, until, by)
        cells = [[name(r["key"]), r["total"], *(r[o] for o in figures.OUTCOMES),
                  r["answered_rate"], r["offered_rate"], r["unanswered_rate"]] for r in rows]
        chart = stacked_bars(title, [(c[0], c[2:6]) for c in cells[:15]], outcome_header)
        add(key, title, ["", "问题数", *outcome_header, *rate_header], cells, chart, "图：问题数，按结果分段", note)

    if wanted("topics"):
        question_table("topics", "各主题的问题", "subject",
                       lambda t: topics[t].title if t in topics else (t or "未归类"))
    if wanted("townships"):
        question_table("townships", "各乡镇的问题", "township", lambda t: t or "未标明乡镇",
                       "只有说出了乡镇的对话（多为办理申请时）才计入乡镇；未标明乡镇的只在全县视图中。"
                       if scope.county else "只计说出了您负责乡镇的对话。")
    if wanted("weeks"):
        question_table("weeks", "每周的问题", "week", lambda d: f"{d:%m-%d}起")
    if wanted("funnel", "steps"):
        funnel_tables(session, scope, since, until, add, out)
    if wanted("leads", "contact", "caseworkers"):
        lead_tables(session, scope, since, add)
    if wanted("broadcasts"):
        broadcast_table(session, scope, since, until, add)
    return out


def broadcast_table(session, scope, since, until, add) -> None:
    """The notices sent in the period and what followed them (bot/insight/broadcasts.py)."""
    runtime = runtime_of()
    names = {**dict(load_words().topics), NOTICES: "全部政策通知"}
    rows = broadcasts(session, scope, since, until, runtime.config.workbench.timezone)
    add("broadcasts", "政策通知：发出多少户，前后一周问了多少",
        ["通知", "主题", "开始发送", "已发出", "未发出", "待发送", "前一周问题", "后一周问题", "后一周开始预审"],
        [[r["title"], names.get(r["topic"], r["topic"]), f'{r["day"]:%m-%d}',
          r["sent"], r["not_sent"], r["waiting"], r["questions_before"], r["questions_after"],
          r["screenings_after"]] for r in rows],
        bars("后一周问题", [(f'{r["day"]:%m-%d} {r["title"][:10]}', r["questions_after"]) for r in rows]),
        "图：每条通知发出后一周里该主题的问题数",
        "问题和预审是该主题全体居民的（事件不记名，无法知道是不是收到通知的人问的）：看前后变化，不是归因。"
        + "未发出：发送失败、已退订或结果待查（见通知页）。" + ("" if scope.county else "只计您负责乡镇的居民。"))


def funnel_tables(session, scope, since, until, add, out) -> None:
    """The screening funnel's two tables: by channel and age band, and by step."""
    label = runtime_of().screener.texts.label
    funnel = figures.funnel(session, scope, since, until)
    add("funnel", "申请预审：按渠道和年龄段", ["渠道", "年龄段", "开始", "提交", "中途放弃", "完成率%", "最多人放弃的一步"],
        [[CHANNEL_NAMES.get(r["channel"], r["channel"]), r["age_band"] or UNKNOWN, r["started"], r["submitted"],
          r["abandoned"], r["completion"], label(r["gives_up_at"]) if r["gives_up_at"] else ""]
         for r in funnel["cohorts"]],
        bars("完成率", [(f'{CHANNEL_NAMES.get(r["channel"], r["channel"])} {r["age_band"] or UNKNOWN}',
                         r["completion"]) for r in funnel["cohorts"]], "%"),
        "图：完成率（提交÷开始）", "年龄段在说出年龄（或身份证号）后才知道：那之前放弃的计入“未知”。")
    add("steps", "申请预审：每一步问了多少、在这一步放弃多少",
        ["步骤", "问到", "答了", "在此放弃", "多次没听懂", "放弃率%"],
        [[label(r["step"]), r["asked"], r["answered"], r["abandoned"], r["failed"], r["dropout"]]
         for r in funnel["steps"]],
        bars("在此放弃", [(label(r["step"]), r["abandoned"]) for r in funnel["steps"][:15]]),
        "图：在这一步放弃的人数（最多的15步）")
    out["steps"]["worst"] = label(funnel["worst"]) if funnel["worst"] else None


def lead_tables(session, scope, since, add) -> None:
    """The leads' tables: by status and age, days to first contact, open leads per caseworker."""
    now = dt.datetime.now(dt.timezone.utc)
    buckets = [name for _, _, name in figures.AGE_BUCKETS]
    status_rows = figures.leads_by_status_and_age(session, scope, now)
    add("leads", "线索：按状态和已过天数", ["状态", "合计", *buckets],
        [[LEAD_STATUS_LABELS.get(r["status"], r["status"]), r["total"], *r["buckets"]] for r in status_rows],
        stacked_bars("线索", [(LEAD_STATUS_LABELS.get(r["status"], r["status"]), r["buckets"])
                              for r in status_rows if r["n"]], buckets),
        "图：各状态的线索数，按进来后已过天数分段")
    start = dt.datetime.combine(since, dt.time(), dt.timezone.utc)
    contact = figures.first_contact(session, scope, start)
    add("contact", "首次联系：从线索进来到第一次联系的天数（中位数）", ["乡镇", "已联系", "尚未联系", "中位天数"],
        [[r["township"] or "未标明乡镇", r["contacted"], r["waiting"], r["median_days"]] for r in contact],
        bars("中位天数", [(r["township"] or "未标明乡镇", r["median_days"]) for r in contact], "天"),
        "图：首次联系的中位天数", "本时段内进来的线索。")
    load = figures.open_per_caseworker(session, scope)
    add("caseworkers", "各经办人手上未办结的线索", ["账号", "未办结"],
        [[r["username"] or "（未分派）", r["open"]] for r in load],
        bars("未办结", [(r["username"] or "（未分派）", r["open"]) for r in load]), "图：未办结线索数")


@blueprint.route("/dashboard")
def dashboard():
    """The figures of the actor's townships (the county's for a supervisor or an admin)."""
    weeks, since, until = _period(request.args)
    scope, township = _scope(request.args)
    with unit_of_work() as session:
        content = tables(session, scope, since, until)
    return render_template("workbench/dashboard.html", tables=content, weeks=weeks, periods=PERIODS,
                           since=since, until=until, township=township, townships=_townships(),
                           county=figures.Scope.of(g.actor).county, minimum=figures.MINIMUM)


@blueprint.route("/dashboard/<key>.csv")
def dashboard_csv(key: str):
    """One table of the page as CSV (UTF-8 with BOM, so Excel reads the Chinese), "<5" as shown."""
    weeks, since, until = _period(request.args)
    scope, township = _scope(request.args)
    with unit_of_work() as session:
        content = tables(session, scope, since, until, only=key) if key in SHORT else {}
    table = content.get(key) or abort(404)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f"{table['title']}（{since}至{until}{'，' + township if township else ''}）"])
    writer.writerow(table["header"])
    writer.writerows([["" if cell is None else cell for cell in row] for row in table["rows"]])
    name = f"dashboard-{key}-{since}-{until}.csv"
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blueprint.route("/dashboard/flow")
def dashboard_flow():
    """The screening's steps in their order, with how many were asked each and gave up at it."""
    weeks, since, until = _period(request.args)
    scope, township = _scope(request.args)
    runtime = runtime_of()
    with unit_of_work() as session:
        funnel = figures.funnel(session, scope, since, until)
    by_step = {r["step"]: r for r in funnel["steps"]}
    steps = [{"name": s.name, "label": runtime.screener.texts.label(s.name), "kind": s.kind,
              "conditional": bool(s.when or s.when_any), "figures": by_step.get(s.name)}
             for s in runtime.screener.flow.slots]
    return render_template("workbench/dashboard_flow.html", steps=steps, worst=funnel["worst"],
                           weeks=weeks, since=since, until=until, township=township)
