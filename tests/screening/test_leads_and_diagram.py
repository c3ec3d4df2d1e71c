"""`jiuzhu simulate` / `jiuzhu leads` through the real CLI, audit of reveals, the flow diagram."""
import json
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.screening.diagram import render_mermaid
from bot.screening.flow import load_flow
from tests.screening.conftest import RURAL_FAMILY

ROOT = Path(__file__).resolve().parents[2]


def simulate(cli, user, lines, channel="wechat"):
    out = cli("simulate", "--channel", channel, "--user", user, "--json", input="\n".join(lines) + "\n").stdout
    return [json.loads(line) for line in out.splitlines()]


def test_simulate_prints_one_json_line_per_message_and_resumes(cli):
    first = simulate(cli, "sim-1", ["申请低保", "同意"])
    assert len(first) == 2
    assert set(first[0]) == {"messages", "expecting", "done", "application_ref"}
    assert first[0]["expecting"] == "consent"
    again = simulate(cli, "sim-1", ["黄春生"])  # a second run continues the same conversation
    assert again[0]["expecting"] == "id_number"


def test_leads_list_and_show_mask_and_reveal_with_audit(cli, sqlite_url):
    answers = []
    replies = simulate(cli, "sim-2", ["申请低保"])
    expecting = replies[-1]["expecting"]
    # drive the conversation one message at a time
    while True:
        answers.append(RURAL_FAMILY[expecting])
        replies = simulate(cli, "sim-2", [answers[-1]])
        if replies[-1]["done"]:
            break
        expecting = replies[-1]["expecting"]
    ref = replies[-1]["application_ref"]
    listed = [json.loads(line) for line in cli("leads", "list", "--json").stdout.splitlines()]
    assert [lead["ref"] for lead in listed] == [ref]
    assert listed[0]["fields"]["id_number"] == "360732********2130"
    assert listed[0]["fields"]["phone"] == "139****2468"
    shown = json.loads(cli("leads", "show", ref, "--json").stdout)
    assert shown["fields"]["name"] == "黄**"
    revealed = json.loads(cli("leads", "show", ref, "--json", "--reveal").stdout)
    assert revealed["fields"]["id_number"] == "360732197909152130"
    assert revealed["fields"]["name"] == "黄春生"
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action, lead_ref, actor FROM audit_log")).all()
        stored = conn.execute(text("SELECT * FROM leads")).mappings().one()
    engine.dispose()
    assert [(r.action, r.lead_ref) for r in rows] == [("reveal", ref)]
    assert rows[0].actor.startswith("cli:")
    assert revealed["fields"]["village"] == "太平村" and revealed["fields"]["household_monthly_income"] == 1800
    assert revealed["fields"]["disability_level"] == 4
    # at rest: no name, ID number, village, income, disability or reason in any column
    everything = " ".join(str(value) for value in stored.values())
    for said in ("黄春生", "360732197909152130", "太平村", "1800", "disability", "残疾", "收入"):
        assert said not in everything, said
    assert '{"program": "dibao"}' in stored["programs"]  # the programme ids stay clear, for the queue


def test_unknown_lead_is_a_clear_error(cli):
    proc = cli("leads", "show", "JZ000000-XXXX", "--json", check=False)
    assert proc.returncode == 1 and "no lead" in proc.stderr


def test_missing_data_key_outside_development_is_a_startup_error(cli):
    proc = cli("simulate", "--user", "x", input="申请低保\n", env={"JIUZHU_MODE": "production"}, check=False)
    assert proc.returncode == 2 and "JIUZHU_DATA_KEY" in proc.stderr


def test_flow_diagram_is_up_to_date():
    committed = (ROOT / "docs" / "screening-flow.md").read_text(encoding="utf-8")
    assert committed == render_mermaid(load_flow()), "run `jiuzhu flow diagram` and commit docs/"


def test_leads_status_command_audits_and_queues_an_sms(cli, runtime, sqlite_url):
    from bot.messages import IncomingMessage

    def say(text):
        return runtime.engine.handle(IncomingMessage(channel="wechat", user_id="st-1", text=text))

    reply = say("申请低保")
    while not reply.done:
        reply = say(RURAL_FAMILY[reply.expecting])
    ref = reply.application_ref
    out = cli("leads", "status", ref, "contacted").stdout
    assert out.strip() == f"{ref}: contacted; SMS queued"
    assert json.loads(cli("leads", "show", ref, "--json").stdout)["status"] == "contacted"
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(text("SELECT action FROM audit_log"))]
        queued = conn.execute(text("SELECT count(*) FROM outbox WHERE channel = 'sms'")).scalar()
    engine.dispose()
    assert actions == ["status"] and queued == 2  # the submission confirmation and the status change
    assert cli("leads", "status", "JZ000000-XXXX", "closed", check=False).returncode == 1
