"""The knowledge base: coverage, facts from config, and a validator that names file and entry."""
import shutil
from pathlib import Path

import pytest
import yaml

from bot.config import load_config
from bot.errors import KnowledgeError
from bot.knowledge import SMS_MAX_CHARS, load_knowledge
from knowledge import KNOWLEDGE_DIR

ROOT = Path(__file__).resolve().parent.parent
SHARED_TOPICS = ROOT.parent / "shared" / "spec" / "topics.yaml"
CORE = ("dibao.", "tekun.", "linshi.", "yiliao.")


@pytest.fixture(scope="module")
def kb():
    return load_knowledge(load_config(ROOT / "config.toml", environ={}))


def test_taxonomy_copy_matches_the_shared_spec():
    if not SHARED_TOPICS.exists():
        pytest.skip("shared/spec/topics.yaml is not beside the project")
    assert (KNOWLEDGE_DIR / "topics.yaml").read_bytes() == SHARED_TOPICS.read_bytes()


def test_every_topic_covered_and_core_topics_by_several_entries(kb):
    counts = {t: 0 for t in kb.topics}
    for e in kb.entries:
        if e.topic:
            counts[e.topic] += 1
    assert all(n >= 1 for n in counts.values()), [t for t, n in counts.items() if n == 0]
    for topic, n in counts.items():
        if topic.startswith(CORE):
            assert n >= 2, topic


def test_entries_carry_source_date_and_many_phrasings(kb):
    for e in kb.entries:
        assert len(e.questions) >= 10, e.id
        if e.kind != "decline":
            assert e.source and e.checked, e.id
        assert len(e.sms) <= SMS_MAX_CHARS, e.id


def test_standards_are_filled_from_config_with_unverified_note(kb):
    answer = kb.entry("dibao-standard-01").answer_for("wechat")
    assert "900" in answer and "720" in answer
    assert "以兴国县民政局最新公布为准" in answer
    assert "{" not in answer


def test_next_years_standard_is_a_one_line_config_change(tmp_path):
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("dibao_rural = 720", "dibao_rural = 780").replace("verified = false\ndibao", "verified = true\ndibao")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    kb = load_knowledge(load_config(path, environ={}))
    answer = kb.entry("dibao-standard-01").answer_for("wechat")
    assert "780" in answer and "720" not in answer
    assert "示例标准" not in answer  # verified figures carry no warning


@pytest.fixture
def kb_copy(tmp_path):
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def mutate(kb_copy: Path, change) -> None:
    path = kb_copy / "faq" / "dibao.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc["entries"])
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("change, expected", [
    (lambda es: es[0].update(topic="dibao.nonsense"), "unknown topic 'dibao.nonsense'"),
    (lambda es: es[1].update(id=es[0]["id"]), "duplicate id"),
    (lambda es: es[0].pop("sms"), "missing field 'sms'"),
    (lambda es: es[0].update(answer=es[0]["answer"] + "{no_such_value}"), "placeholder {no_such_value} has no config value"),
    (lambda es: es[0].update(sms="很长" * 70), "sms is 140 characters"),
    (lambda es: es[0].update(answer="城市{dibao_urban}元，农村{dibao_rural}元"), "without {standards_note}"),
    (lambda es: es[0].update(answer="低保是一项政策。{standards_note}"), "must mention"),
    (lambda es: es[0].update(questiosn=["x"]), "unknown field 'questiosn'"),
])
def test_validator_names_file_and_entry(kb_copy, change, expected):
    mutate(kb_copy, change)
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(load_config(ROOT / "config.toml", environ={}), kb_copy)
    hits = [p for p in err.value.problems if expected in p]
    assert hits, err.value.problems
    assert all(p.startswith("faq/dibao.yaml: entry ") for p in hits)


def test_broken_yaml_is_reported_with_line(kb_copy):
    (kb_copy / "faq" / "tekun.yaml").write_text("entries:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(load_config(ROOT / "config.toml", environ={}), kb_copy)
    assert any(p.startswith("faq/tekun.yaml: line") for p in err.value.problems)


def test_kb_check_command(cli):
    proc = cli("kb", "check")
    assert proc.stdout.startswith("kb check: OK")
