"""A county figure changed in config.toml flags every entry that quotes it, until it is reviewed."""
from bot.config import load_config
from bot.curation import figures
from bot.knowledge import load_knowledge
from bot.runtime import Runtime
from bot.storage.models import AuditEvent, EntryFigures
from tests.conftest import ROOT
from tests.curation.conftest import plain, post
from tests.workbench.documents_support import log_in


def raised(sqlite_url, rural=760):
    """The project's config with a new 农村低保标准, on the same database."""
    return plain(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": sqlite_url},
                             overrides={"county.standards.dibao_rural": rural}))


def quoting(kb, name):
    return {e.id for e in kb.entries if name in e.quotes}


def test_entries_quoting_a_changed_figure_are_flagged_and_no_others(runtime, sqlite_url):
    runtime.knowledge.refresh_now()  # a process's first check records what each entry quotes
    with runtime.db.unit_of_work() as session:
        recorded = {r.entry_id: r.figures for r in session.query(EntryFigures)}
        assert figures.flagged(session, runtime.kb, runtime.config) == []
    rural = quoting(runtime.kb, "dibao_rural")
    assert rural and rural <= set(recorded) and recorded[next(iter(rural))]["dibao_rural"] == "720"

    config = raised(sqlite_url)
    kb = load_knowledge(config)
    with runtime.db.unit_of_work() as session:
        figures.record_baselines(session, kb, config)  # a restart with the new figure records nothing over it
        flagged = figures.flagged(session, kb, config)
    derived = quoting(kb, "tekun_rural") | quoting(kb, "bianyuan_rural")  # 农村特困/边缘 follow the 低保 figure
    assert {f.entry.id for f in flagged} == rural | derived
    standard = next(f for f in flagged if "dibao_rural" in f.entry.quotes)
    assert ("农村低保标准", "720", "760") in standard.changed
    assert not any(label == "城市低保标准" for label, _, _ in standard.changed)


def test_a_supervisor_marks_a_flagged_entry_reviewed_on_the_page(runtime, sqlite_url):
    runtime.knowledge.refresh_now()
    from web.app import create_app

    config = raised(sqlite_url)
    raised_runtime = Runtime(config, kb=load_knowledge(config), matcher=runtime.matcher)
    app = create_app(raised_runtime)
    supervisor, caseworker = app.test_client(), app.test_client()
    log_in(supervisor, "sup1")
    log_in(caseworker, "cw")
    entry = next(e for e in raised_runtime.kb.entries if e.topic == "dibao.standard" and "dibao_rural" in e.quotes)

    html = supervisor.get("/workbench/curation").get_data(as_text=True)
    assert "需要核对的条目" in html and entry.title in html and "760" in html and "已核对</button>" in html
    assert "已核对</button>" not in caseworker.get("/workbench/curation").get_data(as_text=True)
    url = f"/workbench/curation/figures/{entry.id}/reviewed"
    assert post(caseworker, url, {"note": "无需修改"}).status_code == 403
    post(supervisor, url, {"note": "答案无需修改"})
    html = supervisor.get("/workbench/curation").get_data(as_text=True)
    assert "已按现行数字核对" in html
    with raised_runtime.db.unit_of_work() as session:
        still = {f.entry.id for f in figures.flagged(session, raised_runtime.kb, config)}
        assert entry.id not in still and still  # the others still wait
        record = session.get(EntryFigures, entry.id)
        assert record.reviewed_by == "sup1" and record.figures["dibao_rural"] == "760"
        assert session.query(AuditEvent).filter_by(action="kb_figures_reviewed").count() == 1


def test_figures_unchanged_in_value_flag_nothing(runtime, sqlite_url):
    runtime.knowledge.refresh_now()
    config = raised(sqlite_url, rural=720)  # the same figures, a fresh start
    with runtime.db.unit_of_work() as session:
        assert figures.flagged(session, load_knowledge(config), config) == []
