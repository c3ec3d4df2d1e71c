"""The queue of unanswered questions: grouped once, most frequent first, scrubbed, with a status."""
import pytest

from bot.config import load_config
from bot.curation import groups
from bot.errors import JiuzhuError
from bot.runtime import Runtime
from bot.unanswered import record_unanswered
from tests.conftest import ROOT
from tests.curation.conftest import UNKNOWN, ask_unanswered


def test_similar_questions_form_one_group_most_frequent_first(runtime):
    ask_unanswered(runtime, ["火车票在哪里买"] + list(UNKNOWN[:3]))
    with runtime.db.unit_of_work() as session:
        rows, total, counts = groups.queue(session)
    assert total == 2 and counts == {"open": 2, "resolved": 0, "ignored": 0}
    assert rows[0].text == UNKNOWN[0] and rows[0].count == 3
    assert set(rows[0].examples) <= set(UNKNOWN[1:3]) and rows[0].examples
    assert rows[1].count == 1


def test_a_group_keeps_its_identity_as_questions_join_it(runtime):
    ask_unanswered(runtime, UNKNOWN[:1])
    with runtime.db.unit_of_work() as session:
        first = groups.queue(session)[0][0]
    ask_unanswered(runtime, UNKNOWN[1:3])
    with runtime.db.unit_of_work() as session:
        again = groups.queue(session)[0][0]
    assert again.id == first.id and again.count == 3


def test_names_and_numbers_never_reach_the_page(runtime):
    ask_unanswered(runtime, UNKNOWN[3:])
    with runtime.db.unit_of_work() as session:
        row = groups.queue(session)[0][0]
        detail = groups.detail(session, row.id)
    shown = row.text + "".join(t for t, *_ in detail.questions)
    assert "刘桂英" not in shown and "13970712468" not in shown
    assert "[姓名]" in shown and "[电话]" in shown and "猪瘟" in shown


def test_messages_left_for_a_caseworker_are_not_in_the_queue(runtime):
    record_unanswered(runtime.db, "我家的情况比较复杂，想请人打电话给我", "sms", "left_message", conversation_id=1)
    with runtime.db.unit_of_work() as session:
        assert groups.queue(session)[1] == 0


def test_status_needs_a_note_and_later_questions_are_counted(runtime):
    ask_unanswered(runtime, UNKNOWN[:1])
    with runtime.db.unit_of_work() as session:
        gid = groups.queue(session)[0][0].id
        with pytest.raises(JiuzhuError, match="写明"):
            groups.set_status(session, gid, "ignored", "  ", "sup1")
        groups.set_status(session, gid, "ignored", "不属于社会救助，农业部门管", "sup1")
    ask_unanswered(runtime, UNKNOWN[1:2])
    with runtime.db.unit_of_work() as session:
        rows, _, counts = groups.queue(session, "ignored")
    assert counts["open"] == 0 and rows[0].note == "不属于社会救助，农业部门管"
    assert rows[0].since_update == 1 and rows[0].updated_by == "sup1"


def test_jiuzhu_unanswered_prints_the_same_groups(cli, sqlite_url):
    runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": sqlite_url}))
    ask_unanswered(runtime, UNKNOWN)
    runtime.db.dispose()
    out = cli("unanswered").stdout
    assert out.splitlines()[0].startswith(f"   4× {UNKNOWN[0]}") and "13970712468" not in out
    assert "no ignored unanswered questions" in cli("unanswered", "--status", "ignored").stdout
