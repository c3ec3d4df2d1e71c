"""Published changes applied to the knowledge/ files: each kind, changes already in the files, and
changes that no longer validate left out (never a start-up failure)."""
import shutil

import pytest
import yaml

from bot.curation.live import apply_changes
from bot.curation.overlay import APPLIED, CURATED_FILE, IN_FILES, NO_TARGET, Change, Overlay
from bot.errors import KnowledgeError
from bot.knowledge import load_knowledge
from knowledge import KNOWLEDGE_DIR

NEW_ENTRY = {"id": "other-cattle-01", "topic": "linshi.eligibility", "title": "养的牛病死了能不能申请临时救助",
             "questions": ["屋里养的牛病死了有冇补助", "牛瘟死了能申请救助吗", "养殖户牲口死了生活困难找谁"],
             "keywords": ["牛病死"],
             "answer": "因意外事件（如养的牲口突发病死）或家人重大疾病，导致生活暂时严重困难的，"
                       "可以申请临时救助（《社会救助暂行办法》第四十七条）。"
                       "下一步：到乡镇便民服务中心社会救助窗口申请，详询{assistance_hotline}。",
             "sms": "牲口病死致生活暂时严重困难的，可到乡镇便民服务中心申请临时救助。详询{assistance_hotline}",
             "source": "《社会救助暂行办法》第四十七条", "checked": "2026-12-01"}


@pytest.fixture(scope="module")
def files_kb(shared_runtime):
    return shared_runtime.kb


def some_entry(kb, topic_prefix="dibao."):
    return next(e for e in kb.entries if e.topic and e.topic.startswith(topic_prefix))


def test_a_phrasing_joins_its_entry_and_changes_the_fingerprint(shared_runtime, files_kb):
    entry = some_entry(files_kb)
    change = Change(1, "phrasing", {"entry_id": entry.id, "text": "屋里养的牛病死了有冇补助"})
    overlay = Overlay([change])
    kb = load_knowledge(shared_runtime.config, overlay=overlay)
    assert kb.entry(entry.id).questions[-1] == "屋里养的牛病死了有冇补助"
    assert overlay.outcome == {1: APPLIED}
    assert kb.fingerprint != files_kb.fingerprint
    again = load_knowledge(shared_runtime.config, overlay=Overlay([Change(7, "phrasing", change.payload)]))
    assert again.fingerprint == kb.fingerprint  # content, not ids: the check's fit is the one loaded later


def test_a_synonym_and_a_new_entry_with_a_phrasing_of_its_own(shared_runtime):
    changes = [Change(1, "synonym", {"variant": "牲口", "canonical": "牛羊"}),
               Change(2, "entry", NEW_ENTRY),
               Change(3, "phrasing", {"entry_id": "other-cattle-01", "text": "牛死了有钱补吗"})]
    overlay = Overlay(changes)
    kb = load_knowledge(shared_runtime.config, overlay=overlay)
    assert kb.synonyms["牲口"] == "牛羊"
    entry = kb.entry("other-cattle-01")
    assert entry.file == CURATED_FILE and entry.source == "《社会救助暂行办法》第四十七条"
    assert "牛死了有钱补吗" in entry.questions and "12349" in entry.answer_for("wechat")
    assert overlay.outcome == {1: APPLIED, 2: APPLIED, 3: APPLIED}


def test_changes_already_in_the_files_change_nothing(shared_runtime, files_kb):
    entry = some_entry(files_kb)
    variant, canonical = next(iter(files_kb.synonyms.items()))
    overlay = Overlay([Change(1, "phrasing", {"entry_id": entry.id, "text": entry.questions[0]}),
                       Change(2, "synonym", {"variant": variant, "canonical": canonical}),
                       Change(3, "entry", {**NEW_ENTRY, "id": entry.id})])
    kb = load_knowledge(shared_runtime.config, overlay=overlay)
    assert overlay.outcome == {1: IN_FILES, 2: IN_FILES, 3: IN_FILES}
    assert kb.entry(entry.id).questions == entry.questions


def test_a_change_that_no_longer_validates_is_left_out_not_fatal(shared_runtime, files_kb):
    dibao, tekun = some_entry(files_kb, "dibao."), some_entry(files_kb, "tekun.")
    good = Change(1, "phrasing", {"entry_id": dibao.id, "text": "屋里养的牛病死了有冇补助"})
    clash = Change(2, "phrasing", {"entry_id": tekun.id, "text": dibao.questions[0]})  # another topic's phrasing
    lost = Change(3, "phrasing", {"entry_id": "no-such-entry-01", "text": "随便问问"})
    with pytest.raises(KnowledgeError):
        load_knowledge(shared_runtime.config, overlay=Overlay([good, clash]))
    loaded = apply_changes(shared_runtime.config, [good, clash, lost], version=3)
    assert [c.id for c in loaded.kept] == [1, 3]
    assert "also under" in loaded.problems[2][0]
    assert loaded.outcome[3] == NO_TARGET
    assert "屋里养的牛病死了有冇补助" in loaded.kb.entry(dibao.id).questions


def test_the_files_own_errors_still_stop_start_up(shared_runtime, tmp_path):
    broken = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, broken)
    path = broken / "faq" / "dibao.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    del doc["entries"][0]["answer"]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="missing field 'answer'"):
        apply_changes(shared_runtime.config, [Change(1, "synonym", {"variant": "牲口", "canonical": "牛羊"})],
                      directory=broken)
