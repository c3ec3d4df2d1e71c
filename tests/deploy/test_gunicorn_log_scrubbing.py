"""gunicorn's own error and access logs never write a request's query string (openid, signature…)."""
from __future__ import annotations

import hashlib
import socket
import time

from deploy.gunicorn_logging import scrub_server_line
from tests.deploy.gunicorn_run import HOST, Gunicorn, jiuzhu

TOKEN = "jiuzhu-log-test-token"
OPENID = "oJZ_secret_openid_4711"
SECRETS_IN_URL = (OPENID, "signature=", "msg_signature=", "nonce=", "timestamp=", "13970712468")


def test_a_logged_url_loses_its_query_and_numbers():
    line = ("Error handling request POST /wechat?signature=ab12&timestamp=1796210600&nonce=9&openid=oX_1"
            "&encrypt_type=aes&msg_signature=cd34 and 'GET /sms?From=%2B8613970712468 HTTP/1.1'")
    assert scrub_server_line(line) == "Error handling request POST /wechat?… and 'GET /sms?… HTTP/1.1'"
    assert scrub_server_line("Booting worker with pid: 26274") == "Booting worker with pid: 26274"


def _signed_query(timestamp: str, nonce: str) -> str:
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    return (f"signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={OPENID}"
            f"&encrypt_type=aes&msg_signature=5e1f{timestamp}")


def _wait_for(server: Gunicorn, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in (log := server.log()):
            return log
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never logged:\n{server.log()[-3000:]}")


def test_worker_timeout_and_bad_request_lines_are_logged_without_the_url(tmp_path, sqlite_url):
    env = {"JIUZHU_DATABASE_URL": sqlite_url, "JIUZHU_WECHAT_TOKEN": TOKEN}
    assert jiuzhu("db", "upgrade", env=env).returncode == 0
    with Gunicorn(env, tmp_path / "gunicorn.log", extra=("--timeout", "2")).wait_ready() as server:
        # a slow client: a signed WeChat POST whose body never finishes holds the sync worker
        # until the master kills it for its timeout — gunicorn then logs the request's URI
        slow = socket.create_connection((HOST, server.port))
        query = _signed_query(str(int(time.time())), "20261202")
        slow.sendall(f"POST /wechat?{query} HTTP/1.1\r\nHost: jiuzhu\r\nContent-Type: text/xml\r\n"
                     "Content-Length: 4000\r\n\r\n<xml><ToUserName>".encode())
        _wait_for(server, "WORKER TIMEOUT")
        _wait_for(server, "Error handling request")
        slow.close()
        server.wait_ready()  # the master booted a new worker
        with socket.create_connection((HOST, server.port)) as bad:
            bad.sendall(f"GET /sms?From=%2B8613970712468&openid={OPENID} HTTP/1.1 junk\r\n\r\n".encode())
            assert bad.recv(100).startswith(b"HTTP/1.1 400")
        log = _wait_for(server, "Invalid request from ip=")
        assert server.get(f"/healthz?{_signed_query('1', '2')}")[0] == 200  # an access-log line
        time.sleep(0.5)
        log = server.log()
    assert "Error handling request POST /wechat?…" in log
    assert '"GET /healthz" 200' in log
    leaked = [secret for secret in SECRETS_IN_URL if secret in log]
    assert not leaked, f"gunicorn's log holds {leaked}:\n{log[-3000:]}"
