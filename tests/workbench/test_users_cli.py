"""`jiuzhu users …` as contract §5 says, and `jiuzhu demo` / `jiuzhu serve --demo`."""
from __future__ import annotations

import json

import pytest

PASSWORD = "a-long-cli-password\n"


def users(cli):
    return {row["username"]: row for row in map(json.loads, cli("users", "list", "--json").stdout.splitlines())}


def test_add_list_disable_enable_unlock_townships_and_reset_password(cli):
    made = cli("users", "add", "wang", "--role", "caseworker", "--township", "江背镇", "--township", "高兴镇",
               "--password-stdin", input=PASSWORD)
    assert "wang: caseworker (江背镇、高兴镇)" in made.stdout
    cli("users", "add", "county", "--role", "supervisor", "--password-stdin", input=PASSWORD)
    cli("users", "add", "root", "--role", "admin", "--password-stdin", input=PASSWORD)
    listed = users(cli)
    assert set(listed) == {"wang", "county", "root"}
    assert listed["wang"]["role"] == "caseworker" and listed["wang"]["townships"] == ["江背镇", "高兴镇"]
    assert listed["county"]["townships"] == [] and listed["wang"]["disabled"] is False
    assert set(listed["wang"]) >= {"username", "role", "townships", "disabled", "locked_until", "last_login_at",
                                   "created_at"}
    assert "password" not in json.dumps(listed) and "argon2" not in json.dumps(listed)

    cli("users", "disable", "wang")
    assert users(cli)["wang"]["disabled"] is True
    assert "disabled" in cli("users", "list").stdout
    cli("users", "enable", "wang")
    assert users(cli)["wang"]["disabled"] is False
    cli("users", "townships", "wang", "--township", "潋江镇")
    assert users(cli)["wang"]["townships"] == ["潋江镇"]
    assert "unlocked" in cli("users", "unlock", "wang").stdout
    assert "password reset" in cli("users", "reset-password", "wang", "--password-stdin",
                                   input="another-long-password\n").stdout


@pytest.mark.parametrize("args, problem", [
    (("users", "add", "a", "--role", "caseworker", "--password-stdin"), "at least one --township"),
    (("users", "add", "a", "--role", "caseworker", "--township", "火星镇", "--password-stdin"), "unknown township"),
    (("users", "add", "a", "--role", "supervisor", "--township", "江背镇", "--password-stdin"), "no --township"),
    (("users", "disable", "nobody"), "no user nobody"),
])
def test_refusals_say_why(cli, args, problem):
    result = cli(*args, input=PASSWORD, check=False)
    assert result.returncode != 0 and problem in result.stderr


def test_a_short_password_and_a_second_account_of_the_same_name_are_refused(cli):
    short = cli("users", "add", "a", "--role", "supervisor", "--password-stdin", input="short\n", check=False)
    assert short.returncode != 0 and "at least 8 characters" in short.stderr
    cli("users", "add", "a", "--role", "supervisor", "--password-stdin", input=PASSWORD)
    again = cli("users", "add", "a", "--role", "admin", "--password-stdin", input=PASSWORD, check=False)
    assert again.returncode != 0 and "exists already" in again.stderr


def test_the_password_is_never_an_argument(cli):
    result = cli("users", "add", "a", "--role", "supervisor", "--password", "a-long-password", check=False)
    assert result.returncode != 0 and users(cli) == {}


def test_the_last_admin_stays(cli):
    cli("users", "add", "root", "--role", "admin", "--password-stdin", input=PASSWORD)
    refused = cli("users", "disable", "root", check=False)
    assert refused.returncode != 0 and "last active admin" in refused.stderr
    cli("users", "add", "root2", "--role", "admin", "--password-stdin", input=PASSWORD)
    cli("users", "disable", "root")
    assert users(cli)["root"]["disabled"] is True


def test_demo_makes_its_accounts_leads_and_a_left_message_once(runtime):
    from sqlalchemy import func, select

    from bot.commands.demo import DEMO_HOUSEHOLDS, DEMO_USERS, ensure_demo
    from bot.storage.models import Lead, UnansweredQuestion, User

    first = ensure_demo(runtime)
    assert first == len(DEMO_HOUSEHOLDS) + 1                 # and the real screening
    assert ensure_demo(runtime) == 0
    with runtime.db.unit_of_work() as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == len(DEMO_USERS)
        leads = s.execute(select(Lead)).scalars().all()
        assert len(leads) == first
        assert sum(1 for lead in leads if lead.transcript) == 1
        assert {lead.status for lead in leads} == {"new", "contacted"}
        assert s.execute(select(func.count()).select_from(UnansweredQuestion)
                         .where(UnansweredQuestion.outcome == "left_message")).scalar_one() == 1


def test_demo_refuses_outside_development(cli):
    from cryptography.fernet import Fernet

    result = cli("demo", env={"JIUZHU_MODE": "production", "JIUZHU_DATA_KEY": Fernet.generate_key().decode(),
                              "JIUZHU_SECRET_KEY": "a-secret"}, check=False)
    assert result.returncode != 0 and "only in development mode" in result.stderr


def test_serve_demo_says_where_to_log_in_and_the_demo_account_logs_in(sqlite_url, tmp_path):
    """What `scripts/dev` runs (the README's first command): `jiuzhu serve --demo`."""
    import os
    import re
    import socket
    import subprocess
    import sys
    import time
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar
    from pathlib import Path

    from tests.conftest import ROOT

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exe = Path(sys.executable).with_name("jiuzhu")
    server = subprocess.Popen([str(exe), "serve", "--demo", "--port", str(port)], cwd=ROOT, text=True,
                              env={**os.environ, "JIUZHU_DATABASE_URL": sqlite_url},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        said, deadline = "", time.monotonic() + 90
        while "same password" not in said and time.monotonic() < deadline:
            said += server.stdout.readline()
        assert f"http://127.0.0.1:{port}/workbench/login" in said and "demo-jiuzhu" in said
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        for _ in range(50):
            try:
                form = opener.open(f"http://127.0.0.1:{port}/workbench/login", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode({"username": "demo", "password": "demo-jiuzhu", "csrf_token": token})
        queue = opener.open(f"http://127.0.0.1:{port}/workbench/login", data=data.encode(), timeout=10).read().decode()
        assert "线索队列" in queue and queue.count("JZ") >= 6
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()
