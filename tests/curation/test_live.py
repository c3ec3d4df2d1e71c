"""A published change reaches other runtimes and other processes without a restart."""
import json
import os
import subprocess
import sys
import textwrap
import time

from bot.config import load_config
from bot.curation.live import Loaded, load_at_start
from bot.runtime import Runtime
from tests.conftest import ROOT
from tests.curation.conftest import UNKNOWN, add_accounts, plain, publish_phrasing

TARGET = "linshi.eligibility"
# The second process: a runtime on the same database that checks the version every second and
# answers each line of its standard input with the topic and the knowledge version it used.
SECOND_PROCESS = textwrap.dedent("""
    import dataclasses, json, sys
    from bot.config import load_config
    from bot.runtime import Runtime
    config = load_config(sys.argv[1], environ={"JIUZHU_DATABASE_URL": sys.argv[2]})
    config = dataclasses.replace(config, matching=dataclasses.replace(config.matching, semantic=False),
                                 curation=dataclasses.replace(config.curation, refresh_seconds=1))
    runtime = Runtime(config)
    runtime.db, runtime.kb, runtime.matcher
    runtime.knowledge.ensure_running()
    for line in sys.stdin:
        answer = runtime.answer(line.strip())
        print(json.dumps({"topic": answer.topic, "version": runtime.knowledge_version}), flush=True)
""")


def test_a_second_runtime_on_the_same_database_picks_the_change_up(any_db_url, plain_matcher, shared_runtime):
    config = plain(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": any_db_url}))
    first = Runtime(config, kb=shared_runtime.kb, matcher=plain_matcher)
    second = Runtime(config)  # its own start-up: files plus what the database has published
    add_accounts(first)
    assert second.answer(UNKNOWN[0]).topic != TARGET and second.knowledge_version == 0
    assert not second.knowledge.refresh_now()  # nothing new: nothing rebuilt
    _, version, _ = publish_phrasing(first)
    assert second.knowledge.refresh_now()
    assert second.knowledge_version == version and second.answer(UNKNOWN[0]).topic == TARGET
    third = Runtime(config)  # a process started later starts with it
    assert third.answer(UNKNOWN[0]).topic == TARGET and third.knowledge_version == version
    for rt in (first, second, third):
        rt.db.dispose()


def test_a_running_process_answers_with_the_change_within_seconds(runtime, sqlite_url):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SECOND_PROCESS, str(ROOT / "config.toml"), sqlite_url],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def ask() -> dict:
        proc.stdin.write(UNKNOWN[0] + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    try:
        before = ask()
        assert before["topic"] != TARGET and before["version"] == 0
        _, version, _ = publish_phrasing(runtime)
        published, now = time.monotonic(), ask()
        while now["version"] != version and time.monotonic() - published < 60:
            time.sleep(0.5)
            now = ask()
        assert now == {"topic": TARGET, "version": version}, "not picked up within a minute"
    finally:
        proc.stdin.close()
        proc.wait(10)
        proc.stdout.close()


def test_start_up_without_a_reachable_database_uses_the_files(shared_runtime, tmp_path):
    missing = load_config(ROOT / "config.toml",
                          environ={"JIUZHU_DATABASE_URL": f"sqlite:///{tmp_path / 'none.sqlite3'}"})
    loaded = load_at_start(missing)
    assert loaded.version == 0 and loaded.kb.fingerprint == shared_runtime.kb.fingerprint
    assert not (tmp_path / "none.sqlite3").exists()  # `jiuzhu ask` creates no database
    down = load_config(ROOT / "config.toml", environ={
        "JIUZHU_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    loaded = load_at_start(down)
    assert loaded.version is None and loaded.kb.fingerprint == shared_runtime.kb.fingerprint


def test_the_page_tells_of_a_published_change_left_out(runtime, login):
    """(apply_changes leaving it out: test_overlay.py; here, what the page makes of it)"""
    publish_phrasing(runtime)
    runtime.knowledge_version = 1
    runtime.knowledge_loaded = Loaded(runtime.kb, 1, (), {}, {1: ["faq/(workbench): entry x: duplicate id"]})
    html = login("cw").get("/workbench/curation").get_data(as_text=True)
    assert "已发布但未生效" in html and "duplicate id" in html
