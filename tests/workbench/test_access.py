"""Every workbench route × role × township: a lead outside the account's townships is 404 on
every path, as if it did not exist (contract §5), and nothing about it changes; pages of
another role are 403; without a session every page goes to the login form."""
from __future__ import annotations

import pytest

from tests.workbench.conftest import OURS, THEIRS, text_of

# (method, path, form) of every route about one lead; REF is replaced by the lead's reference.
LEAD_ROUTES = [
    ("GET", "/workbench/leads/REF", None),
    ("GET", "/workbench/leads/REF/application.pdf", None),
    ("GET", "/workbench/leads/REF/status?to=contacted", None),
    ("POST", "/workbench/leads/REF/claim", {}),
    ("POST", "/workbench/leads/REF/assign", {"username": "cw"}),
    ("POST", "/workbench/leads/REF/transfer", {"township": "潋江镇", "note": "常住潋江镇"}),
    ("POST", "/workbench/leads/REF/status", {"to": "contacted", "notify": "1"}),
    ("POST", "/workbench/leads/REF/contact", {"message": "请带户口簿来一趟"}),
    ("POST", "/workbench/leads/REF/reveal", {"field": "phone", "purpose": "phone_callback"}),
    ("POST", "/workbench/leads/REF/documents", {"received": "身份证"}),
]
ROUTE_IDS = [f"{m} {p.replace('/workbench/leads/REF', '…')}" for m, p, _ in LEAD_ROUTES]


def call(wb, client, method, path, form, ref):
    path = path.replace("REF", ref)
    return client.get(path) if method == "GET" else wb.post(client, path, form)


@pytest.mark.parametrize("method, path, form", LEAD_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("who", ["cw", "root"])
def test_a_lead_outside_the_scope_is_404_on_every_path_and_stays_untouched(wb, who, method, path, form):
    theirs = wb.lead(THEIRS)
    before = wb.row(theirs)
    response = call(wb, wb.client(who), method, path, form, theirs)
    assert response.status_code == 404
    assert "没有找到这条线索" in text_of(response) or response.mimetype != "application/pdf"
    after = wb.row(theirs)
    assert (after.status, after.assigned_to, after.township, after.documents_received) == \
        (before.status, before.assigned_to, before.township, before.documents_received)
    assert wb.audit(ref=theirs) == [] and wb.outbox() == []


@pytest.mark.parametrize("method, path, form", LEAD_ROUTES, ids=ROUTE_IDS)
def test_a_reference_that_does_not_exist_answers_exactly_like_one_outside_the_scope(wb, method, path, form):
    client = wb.client("cw")
    theirs = call(wb, client, method, path, form, wb.lead(THEIRS))
    missing = call(wb, client, method, path, form, "JZ000000-NONE")
    assert (theirs.status_code, text_of(theirs)) == (missing.status_code, text_of(missing))


# What each role gets on a lead of 江背镇: the caseworker of 江背镇 and the supervisor work it
# (assign and transfer are the supervisor's: a caseworker is told so on the lead page).
ALLOWED = {"GET": 200, "POST": 302}


@pytest.mark.parametrize("method, path, form", LEAD_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("who", ["cw", "county"])
def test_a_lead_within_the_scope_opens_and_its_actions_go_through(wb, who, method, path, form):
    ours = wb.lead(OURS)
    response = call(wb, wb.client(who), method, path, form, ours)
    assert response.status_code == ALLOWED[method]
    if method == "POST":
        assert response.headers["Location"].endswith(f"/workbench/leads/{ours}")


def test_assign_and_transfer_are_refused_to_a_caseworker_with_the_reason(wb):
    ours, client = wb.lead(OURS), wb.client("cw")
    for route, form in (("assign", {"username": "cw"}), ("transfer", {"township": THEIRS, "note": "常住"})):
        page = wb.post(client, f"/workbench/leads/{ours}/{route}", form, follow=True)
        assert "只有县级督导可以分派或转办" in text_of(page)
    lead = wb.row(ours)
    assert lead.township == OURS and lead.assigned_to is None


def test_the_queue_lists_only_the_accounts_townships(wb):
    ours, theirs = wb.lead(OURS), wb.lead(THEIRS, name="钟二妹")
    cw = text_of(wb.client("cw").get("/workbench/leads"))
    assert ours in cw and theirs not in cw
    # asking for another township's queue by the query string shows nothing of it
    asked = text_of(wb.client("cw").get(f"/workbench/leads?township={THEIRS}"))
    assert theirs not in asked
    county = text_of(wb.client("county").get("/workbench/leads"))
    assert ours in county and theirs in county
    other = text_of(wb.client("cw-other").get("/workbench/leads"))
    assert theirs in other and ours not in other


def test_an_export_holds_only_the_accounts_townships(wb):
    import io

    from openpyxl import load_workbook

    ours, theirs = wb.lead(OURS), wb.lead(THEIRS)
    for preset in ("internal", "public"):
        data = wb.client("cw").get(f"/workbench/leads/export.xlsx?preset={preset}&township={THEIRS}&status=").data
        cells = " ".join(str(c) for row in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)
                         for c in row if c)
        assert theirs not in cells
    data = wb.client("cw").get("/workbench/leads/export.xlsx?preset=internal&status=").data
    cells = " ".join(str(c) for row in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)
                     for c in row if c)
    assert ours in cells and theirs not in cells


# Pages of a role: (path, who may, who may not → status)
ROLE_PAGES = [
    ("/workbench/leads", ("cw", "county"), {"root": 403}),
    ("/workbench/leads/export.xlsx?preset=internal", ("cw", "county"), {"root": 403}),
    ("/workbench/messages", ("cw", "county"), {"root": 403}),
    ("/workbench/accounts", ("root",), {"cw": 403, "county": 403}),
    ("/workbench/audit", ("root",), {"cw": 403, "county": 403}),
]


@pytest.mark.parametrize("path, allowed, refused", ROLE_PAGES, ids=[p for p, _, _ in ROLE_PAGES])
def test_each_page_opens_for_its_roles_only(wb, path, allowed, refused):
    for who in allowed:
        assert wb.client(who).get(path).status_code == 200, who
    for who, status in refused.items():
        response = wb.client(who).get(path)
        assert response.status_code == status, who
        assert "无权访问" in text_of(response)


@pytest.mark.parametrize("method, path", [
    ("POST", "/workbench/accounts"), ("POST", "/workbench/accounts/cw/disable"),
    ("POST", "/workbench/accounts/cw/enable"), ("POST", "/workbench/accounts/cw/unlock"),
    ("POST", "/workbench/accounts/cw/townships"), ("POST", "/workbench/accounts/cw/password"),
])
@pytest.mark.parametrize("who", ["cw", "county"])
def test_account_changes_are_the_admins_only(wb, who, method, path):
    response = wb.post(wb.client(who), path, {"username": "intruder", "role": "admin", "password": "x" * 12,
                                              "password_again": "x" * 12, "township": OURS})
    assert response.status_code == 403
    assert [e.action for e in wb.audit() if e.action.startswith("user_")] == ["user_add"] * 4  # the fixture's


def test_the_home_page_is_the_queue_or_for_an_admin_the_accounts(wb):
    assert wb.client("cw").get("/workbench/").headers["Location"].endswith("/workbench/leads")
    assert wb.client("root").get("/workbench/").headers["Location"].endswith("/workbench/accounts")


@pytest.mark.parametrize("path", ["/workbench/", "/workbench/leads", "/workbench/leads/JZ261202-ABCD",
                                  "/workbench/leads/JZ261202-ABCD/application.pdf", "/workbench/messages",
                                  "/workbench/leads/export.xlsx", "/workbench/accounts", "/workbench/audit"])
def test_without_a_session_every_page_goes_to_the_login_form_with_next(wb, path):
    response = wb.client().get(path)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "/workbench/login" in location and "next=" in location


def test_without_a_session_a_form_post_changes_nothing(wb):
    ours = wb.lead(OURS)
    client = wb.client()
    response = wb.post(client, f"/workbench/leads/{ours}/claim")   # a valid token of the login page's session
    assert response.status_code == 302 and "/workbench/login" in response.headers["Location"]
    assert wb.row(ours).assigned_to is None and wb.audit("claim") == []
