"""The curation pages by role: caseworkers and supervisors draft, only another supervisor approves,
an admin has no access; what each page shows."""
import re

import pytest

from bot.curation import groups
from bot.storage.models import KnowledgeChange, utcnow
from tests.curation.conftest import UNKNOWN, ask_unanswered, post, wait_for_checks

PAGES = ("/workbench/curation", "/workbench/curation?status=resolved", "/workbench/curation/groups/{group}",
         "/workbench/curation/changes", "/workbench/curation/changes/{change}", "/workbench/curation/draft-entry",
         "/workbench/curation/draft-entry?group={group}")


@pytest.fixture
def group(runtime):
    ask_unanswered(runtime)
    with runtime.db.unit_of_work() as session:
        return groups.queue(session)[0][0].id


def entry_id(runtime):
    return next(e for e in runtime.kb.entries if e.topic == "linshi.eligibility").id


def drafted(app, client, runtime, group, text=UNKNOWN[0]):
    """A phrasing drafted through the group page's form, its check finished; the change id."""
    response = post(client, "/workbench/curation/changes",
                    {"kind": "phrasing", "group": group, "entry_id": entry_id(runtime), "text": text})
    assert response.status_code == 302, response.get_data(as_text=True)
    wait_for_checks(app)
    return int(re.search(r"/curation/changes/(\d+)$", response.headers["Location"]).group(1))


@pytest.mark.parametrize("username, status", [("cw", 200), ("sup1", 200), ("adm", 403)])
def test_pages_by_role(app, runtime, login, group, username, status):
    with runtime.db.unit_of_work() as session:
        change = KnowledgeChange(kind="synonym", payload={"variant": "牲口", "canonical": "牛羊"}, author="sup2")
        session.add(change)
        session.flush()
        change_id = change.id
    client = login(username)
    for page in PAGES:
        response = client.get(page.format(group=group, change=change_id))
        assert response.status_code == status, page
    home = client.get("/workbench/curation" if status == 200 else "/workbench/accounts").get_data(as_text=True)
    assert ("知识库维护</a>" in home) == (status == 200)  # the nav link only where the pages open


def test_the_queue_page_lists_groups_scrubbed_and_most_frequent_first(login, runtime, group):
    ask_unanswered(runtime, ["火车票在哪里买"])
    html = login("cw").get("/workbench/curation").get_data(as_text=True)
    assert html.index(UNKNOWN[0]) < html.index("火车票在哪里买")
    assert "13970712468" not in html and "刘桂英" not in html
    page = login("cw").get(f"/workbench/curation/groups/{group}").get_data(as_text=True)
    assert "13970712468" not in page and "刘桂英" not in page and "[姓名]" in page
    assert "新问法" in page and "同义词" in page and "写一个新条目" in page


def test_a_caseworker_drafts_and_cannot_approve_a_supervisor_approves(app, login, runtime, group):
    caseworker, supervisor = login("cw"), login("sup1")
    change_id = drafted(app, caseworker, runtime, group)
    page = caseworker.get(f"/workbench/curation/changes/{change_id}").get_data(as_text=True)
    assert "知识库校验通过" in page and "批准并发布" not in page and "撤回这项改动" in page
    url = f"/workbench/curation/changes/{change_id}"
    assert post(caseworker, url + "/approve", page=url).status_code == 403
    assert post(caseworker, url + "/reject", {"note": "x"}, page=url).status_code == 403

    page = supervisor.get(url).get_data(as_text=True)
    assert "批准并发布" in page and "开发集" in page and "这组问题改动前后" in page
    response = post(supervisor, url + "/approve", {"note": "同意"}, page=url)
    assert response.status_code == 302
    page = supervisor.get(url).get_data(as_text=True)
    assert "已发布为知识库版本1" in page and "撤销这项改动" in page
    assert "sup1" in supervisor.get("/workbench/curation/changes").get_data(as_text=True)
    assert post(caseworker, url + "/revert", {"note": "x"}, page=url).status_code == 403


def test_a_supervisor_cannot_approve_their_own_change(app, login, runtime, group):
    author = login("sup1")
    change_id = drafted(app, author, runtime, group)
    url = f"/workbench/curation/changes/{change_id}"
    assert "须由另一位县级督导审核" in author.get(url).get_data(as_text=True)
    post(author, url + "/approve", page=url)
    assert "不能审核自己提交的改动" in author.get(url).get_data(as_text=True)
    with runtime.db.unit_of_work() as session:
        assert session.get(KnowledgeChange, change_id).status == "pending"
    post(login("sup2"), url + "/approve", page=url)
    with runtime.db.unit_of_work() as session:
        assert session.get(KnowledgeChange, change_id).reviewer == "sup2"


def test_a_group_is_marked_with_what_was_done(login, runtime, group):
    client = login("cw")
    url = f"/workbench/curation/groups/{group}"
    post(client, url + "/status", {"status": "ignored", "note": ""}, page=url)
    assert "请写明" in client.get(url).get_data(as_text=True)
    post(client, url + "/status", {"status": "ignored", "note": "农业保险的事，转农业农村局"}, page=url)
    html = client.get("/workbench/curation?status=ignored").get_data(as_text=True)
    assert "农业保险的事，转农业农村局" in html and UNKNOWN[0] in html


def test_a_draft_entry_with_a_mistake_comes_back_filled_in(app, login, runtime, group):
    client = login("cw")
    form = {"kind": "entry", "group": group, "id": "linshi-cattle-01", "topic": "linshi.eligibility",
            "title": "养的牛病死了能不能申请临时救助", "questions": "屋里养的牛病死了有冇补助\n牛瘟死了能申请救助吗",
            "answer": "答", "sms": "短", "source": "《社会救助暂行办法》第四十七条"}
    response = post(client, "/workbench/curation/changes", form, page="/workbench/curation/draft-entry")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "至少写3种" in html and "养的牛病死了能不能申请临时救助" in html


def test_the_change_page_refreshes_while_its_check_runs(login, runtime):
    with runtime.db.unit_of_work() as session:
        change = KnowledgeChange(kind="synonym", payload={"variant": "牲口", "canonical": "牛羊"}, author="cw",
                                 check_state="running", check_started_at=utcnow())
        session.add(change)
        session.flush()
        change_id = change.id
    html = login("sup1").get(f"/workbench/curation/changes/{change_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in html and "检查中" in html and "批准并发布" not in html
