"""`jiuzhu kb curated` lists what the workbench published; `jiuzhu chat` answers with it."""
import json

from bot.curation.changes import ChangeService
from tests.curation.conftest import UNKNOWN, actor, publish_phrasing

TARGET = "linshi.eligibility"


def test_kb_curated_lists_nothing_before_a_publish(runtime, cli):
    listed = json.loads(cli("kb", "curated", "--json").stdout)
    assert listed == {"version": 0, "changes": []}
    assert "no published changes" in cli("kb", "curated").stdout


def test_kb_curated_lists_the_live_change_with_who_and_when(runtime, cli):
    change_id, version, entry_id = publish_phrasing(runtime)
    listed = json.loads(cli("kb", "curated", "--json").stdout)
    assert listed["version"] == version
    [row] = listed["changes"]
    assert (row["id"], row["kind"], row["target"], row["version"]) == (change_id, "phrasing", entry_id, version)
    assert row["author"] != row["reviewer"] and row["reviewer"] and row["published_at"]
    table = cli("kb", "curated").stdout
    assert f"#{change_id}" in table and entry_id in table and f"knowledge version {version}" in table


def test_a_reverted_change_is_no_longer_listed(runtime, cli):
    change_id, _, _ = publish_phrasing(runtime)
    with runtime.db.unit_of_work() as session:
        ChangeService(session, runtime, actor(runtime, "sup2")).revert(change_id, "测试撤回")
    listed = json.loads(cli("kb", "curated", "--json").stdout)
    assert listed["changes"] == [] and listed["version"] == 2


def test_chat_answers_with_the_published_change_and_names_its_version(runtime, cli):
    before = cli("chat", "--user", "t-before", input=UNKNOWN[0] + "\n").stdout
    assert "knowledge version 0" in before
    _, version, entry_id = publish_phrasing(runtime)
    answer = runtime.kb.entry(entry_id).answer_for("wechat")
    after = cli("chat", "--user", "t-after", input=UNKNOWN[0] + "\n").stdout
    assert f"knowledge version {version}: the files plus 1 published change(s)" in after
    assert answer.splitlines()[0] in after and answer.splitlines()[0] not in before
