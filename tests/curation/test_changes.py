"""Drafting, the check before publishing, the review rule, versions and revert."""
import json

import pytest

from bot.curation import groups
from bot.curation.changes import ChangeRefused, ChangeService
from bot.curation.checks import EvalSet, eval_sets, run_check
from bot.curation.drafts import DraftError
from bot.curation.live import current_version
from bot.storage.models import AuditEvent, KnowledgeChange
from tests.conftest import ROOT
from tests.curation.conftest import UNKNOWN, actor, ask_unanswered


def target_entry(kb):
    """The entry the cattle question belongs to: 临时救助's eligibility."""
    return next(e for e in kb.entries if e.topic == "linshi.eligibility")


def mini_set(kb):
    """A few dev questions of the topics these tests touch, and one out of scope."""
    rows = [json.loads(line) for line in (ROOT / "tests/data/dev-questions.jsonl").read_text("utf-8").splitlines()]
    keep = [r for r in rows if r["topic"] in ("dibao.standard", "linshi.eligibility", "tekun.support", None)]
    return EvalSet("mini", tuple((r["q"], r["topic"]) for r in keep[:24]))


def draft(runtime, username, kind, form, group_id=None):
    with runtime.db.unit_of_work() as session:
        return ChangeService(session, runtime, actor(runtime, username)).draft(kind, form, group_id).id


def checked(runtime, change_id, username="cw", sets=None):
    with runtime.db.unit_of_work() as session:
        ChangeService(session, runtime, actor(runtime, username)).request_check(change_id)
    return run_check(runtime, change_id, sets=sets if sets is not None else [mini_set(runtime.kb)])


def step(runtime, username, method, *args):
    with runtime.db.unit_of_work() as session:
        return getattr(ChangeService(session, runtime, actor(runtime, username)), method)(*args)


@pytest.fixture
def group_id(runtime):
    ask_unanswered(runtime, UNKNOWN[:3])
    with runtime.db.unit_of_work() as session:
        return groups.queue(session)[0][0].id


def test_a_phrasing_is_checked_reviewed_by_another_account_and_answers_the_group(runtime, group_id):
    entry = target_entry(runtime.kb)
    assert runtime.answer(UNKNOWN[0]).topic != "linshi.eligibility"
    change_id = draft(runtime, "cw", "phrasing", {"entry_id": entry.id, "text": UNKNOWN[0]}, group_id)
    result = checked(runtime, change_id)
    assert result["valid"] and not result["lowers"]
    replay = {item["q"]: item for item in result["group"]}
    assert replay[UNKNOWN[0]]["before"][1] != "linshi.eligibility"
    assert replay[UNKNOWN[0]]["after"] == ["answer", "linshi.eligibility"]

    with pytest.raises(ChangeRefused, match="只有县级督导"):
        step(runtime, "cw", "approve", change_id)
    published = step(runtime, "sup1", "approve", change_id, "可以")
    assert published.version == 1

    assert runtime.knowledge.refresh_now()
    assert runtime.knowledge_version == 1
    assert runtime.answer(UNKNOWN[0]).topic == "linshi.eligibility"
    with runtime.db.unit_of_work() as session:
        row = session.get(KnowledgeChange, change_id)
        assert (row.status, row.author, row.reviewer, row.published_version) == ("published", "cw", "sup1", 1)
        assert row.reviewed_at is not None
        group = groups.detail(session, group_id).row
        assert group.status == "resolved" and f"#{change_id}" in group.note
        assert session.query(AuditEvent).filter_by(action="kb_publish", actor="sup1").count() == 1


def test_the_author_cannot_approve_their_own_change(runtime):
    entry = target_entry(runtime.kb)
    change_id = draft(runtime, "sup1", "phrasing", {"entry_id": entry.id, "text": UNKNOWN[0]})
    checked(runtime, change_id, "sup1")
    with pytest.raises(ChangeRefused, match="不能审核自己提交的改动"):
        step(runtime, "sup1", "approve", change_id)
    with pytest.raises(ChangeRefused, match="不能审核自己"):
        step(runtime, "sup1", "reject", change_id, "不好")
    assert step(runtime, "sup2", "approve", change_id).version == 1


def test_no_publish_without_a_check_and_a_stale_check_is_refused(runtime):
    entry = target_entry(runtime.kb)
    first = draft(runtime, "cw", "phrasing", {"entry_id": entry.id, "text": UNKNOWN[0]})
    second = draft(runtime, "cw", "synonym", {"variant": "牲口", "canonical": "牛羊"})
    with pytest.raises(ChangeRefused, match="先运行检查"):
        step(runtime, "sup1", "approve", first)
    checked(runtime, first)
    checked(runtime, second)
    step(runtime, "sup1", "approve", second)
    with pytest.raises(ChangeRefused, match="重新检查"):  # checked before #second was published
        step(runtime, "sup1", "approve", first)
    checked(runtime, first)
    assert step(runtime, "sup1", "approve", first).version == 2


def test_a_change_that_lowers_accuracy_needs_a_stated_reason(runtime):
    kb = runtime.kb
    phrasings = {q for e in kb.entries for q in e.questions}
    question = next(q for q, t in mini_set(kb).rows if t == "dibao.standard" and q not in phrasings)
    wrong = next(e for e in kb.entries if e.topic == "tekun.support")
    change_id = draft(runtime, "cw", "phrasing", {"entry_id": wrong.id, "text": question})
    result = checked(runtime, change_id)
    assert result["valid"] and result["lowers"]
    mini = result["sets"][0]
    assert mini["after_right"] < mini["before_right"]
    worse = [c for c in result["changed"] if c["verdict"] == "worse"]
    assert {"q": question, "before": "dibao.standard", "after": "tekun.support"}.items() <= worse[0].items()
    assert any("评估集" in w for w in result["warnings"])  # an evaluation question used as a phrasing
    with pytest.raises(ChangeRefused, match="降低评估集的准确率"):
        step(runtime, "sup1", "approve", change_id)
    step(runtime, "sup1", "approve", change_id, "", "上级文件要求这样归类")
    with runtime.db.unit_of_work() as session:
        assert session.get(KnowledgeChange, change_id).override_reason == "上级文件要求这样归类"


def test_an_invalid_change_is_shown_and_cannot_be_published(runtime):
    kb = runtime.kb
    dibao = next(e for e in kb.entries if e.topic == "dibao.standard")
    tekun = next(e for e in kb.entries if e.topic == "tekun.support")
    change_id = draft(runtime, "cw", "phrasing", {"entry_id": tekun.id, "text": dibao.questions[0]})
    result = checked(runtime, change_id, sets=[])
    assert not result["valid"] and "also under" in result["problems"][0]
    with pytest.raises(ChangeRefused, match="检查未通过"):
        step(runtime, "sup1", "approve", change_id)


def test_revert_is_a_new_version_and_the_bot_forgets_the_change(runtime, group_id):
    entry = target_entry(runtime.kb)
    change_id = draft(runtime, "cw", "phrasing", {"entry_id": entry.id, "text": UNKNOWN[0]}, group_id)
    checked(runtime, change_id)
    step(runtime, "sup1", "approve", change_id)
    runtime.knowledge.refresh_now()
    assert runtime.answer(UNKNOWN[0]).topic == "linshi.eligibility"
    with pytest.raises(ChangeRefused, match="理由"):
        step(runtime, "sup2", "revert", change_id, " ")
    with pytest.raises(ChangeRefused, match="只有县级督导"):
        step(runtime, "cw", "revert", change_id, "不对")
    assert step(runtime, "sup2", "revert", change_id, "归错了条目").version == 2
    assert runtime.knowledge.refresh_now()
    assert runtime.answer(UNKNOWN[0]).topic != "linshi.eligibility"
    with runtime.db.unit_of_work() as session:
        assert current_version(session) == 2
        row = session.get(KnowledgeChange, change_id)
        assert (row.status, row.reverted_by, row.reverted_version) == ("reverted", "sup2", 2)
        assert groups.detail(session, group_id).row.status == "open"


def test_drafts_say_what_to_fix(runtime):
    kb = runtime.kb
    entry = target_entry(kb)
    variant, canonical = next(iter(kb.synonyms.items()))
    cases = [("phrasing", {"entry_id": "nope", "text": "x"}, "请选择"),
             ("phrasing", {"entry_id": entry.id, "text": entry.questions[0]}, "已经有"),
             ("phrasing", {"entry_id": entry.id, "text": "我电话13970712468，怎么办"}, "身份证号、电话"),
             ("synonym", {"variant": variant, "canonical": canonical}, "已在词库"),
             ("synonym", {"variant": "伢 仔", "canonical": "孩子"}, "空格"),
             ("entry", {"id": "Bad Id"}, "条目编号"),
             ("entry", {"id": "linshi-cattle-01", "topic": "linshi.eligibility", "title": "牛病死",
                        "questions": "一\n二\n三", "answer": "答", "sms": "短", "source": ""}, "文件号"),
             ("entry", {"id": "linshi-cattle-01", "topic": "linshi.eligibility", "title": "牛病死",
                        "questions": "一\n二", "answer": "答", "sms": "短", "source": "文"}, "至少写3种")]
    for kind, form, message in cases:
        with pytest.raises(DraftError, match=message):
            draft(runtime, "cw", kind, form)


def test_the_project_evaluation_sets_are_all_found():
    names = {s.name for s in eval_sets()}
    assert {"dev-questions", "heldout-style", "heldout-context", "challenge"} <= names
    assert sum(len(s.rows) for s in eval_sets()) > 800
