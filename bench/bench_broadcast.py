"""Benchmark a broadcast to 100,000 subscribers on PostgreSQL: planning and queueing, then paced sending.

A private schema in the test database (127.0.0.1:5432, `test`) gets the newest schema and
N subscribers of one topic (half WeChat followers, half SMS numbers, addresses encrypted as
the bot stores them). Measured in the same run:

    baseline   a bare INSERT … SELECT copying the N subscription rows into the outbox
               (no planning, no encryption): what the database alone costs
    approve    bot.publicity.broadcast.approve(): the audience, each recipient's route,
               the outbox rows and broadcast_recipients rows, in one unit of work
    send       `deliver_due` with the configured Pacer and a fake sender that takes no time,
               for a few seconds per channel: the sends counted in every one-second window
    mass       the WeChat followers (none wrote in 48 h: all 群发) sent by
               handlers.wechat_mass.deliver_routed to a local fake /cgi-bin/message/mass/send:
               claim, decrypt, ceil(N / 10,000) calls, mark sent; against what one
               customer-service message each would take at the configured WeChat rate

    .venv/bin/python bench/bench_broadcast.py [--subscribers 100000] [--send-seconds 3] [--json]

Target (issue 13): ≥ 5,000 recipients/s planned and queued; sending never over the rate.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.outbox import Policy, Sent, deliver_due  # noqa: E402
from bot.pacing import Pacer  # noqa: E402
from bot.publicity import broadcast as bc  # noqa: E402
from bot.publicity.subscribe import topic_ids  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.storage.models import OutboxMessage, Subscription, utcnow  # noqa: E402
from handlers.senders import WechatSender  # noqa: E402
from handlers.wechat_api import WeChatApi  # noqa: E402
from handlers.wechat_mass import MASS_SEND, deliver_routed  # noqa: E402

POSTGRES_URL = os.environ.get("JIUZHU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RESULTS = ROOT / "bench/results/broadcast.json"
TARGET_PER_SECOND = 5000


class InstantSender:
    """Accepts every message at once and stamps it: only the pacing limits the rate."""

    max_seconds = 1.0

    def __init__(self):
        self.stamps: list[float] = []

    def send(self, recipient: str, body: str) -> Sent:
        self.stamps.append(time.monotonic())
        return Sent(provider_id=f"SM{len(self.stamps)}", segments=1)


def most_in_any_second(stamps: list[float]) -> int:
    """The largest number of sends in any window [t, t + 1 s) (two pointers over sorted stamps)."""
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def fill(runtime, subscribers: int, topic: str) -> None:
    """N subscriptions: even ids WeChat openids, odd ids SMS numbers, county-wide and per township."""
    protector, now, townships = runtime.protector, utcnow(), runtime.config.county.townships
    rows = []
    for i in range(subscribers):
        channel = "wechat" if i % 2 == 0 else "sms"
        address = f"oBENCH{i:022d}" if channel == "wechat" else f"+86138{i:08d}"
        rows.append(dict(channel=channel, recipient_key=protector.blind_index(f"user:{channel}", address),
                         recipient_ref=protector.encrypt(address), topic=topic,
                         township=townships[i % len(townships)] if i % 3 else None, status="subscribed",
                         consent_wording="订阅", consent_channel=channel, consent_at=now, created_at=now,
                         updated_at=now))
    with runtime.db.unit_of_work() as session:
        for start in range(0, len(rows), 5000):
            session.connection().execute(insert(Subscription.__table__), rows[start:start + 5000])
    with runtime.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE subscriptions"))


def baseline(runtime) -> float:
    """Seconds for a bare INSERT … SELECT of the subscription rows into the outbox (rolled back)."""
    with runtime.db.engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(text("""
            INSERT INTO outbox (channel, recipient_key, recipient_ref, body, status, attempts, next_attempt_at,
                                kind, campaign_id, idempotency_key, created_at, updated_at)
            SELECT channel, recipient_key, recipient_ref, recipient_ref, 'queued', 0, now(), 'broadcast',
                   'baseline', 'baseline:' || id, now(), now()
            FROM subscriptions"""))
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds


def approve(runtime, topic: str) -> tuple[float, int]:
    """Seconds for drafting nothing but approving everything: audience, routes, rows; and how many queued."""
    with runtime.db.unit_of_work() as session:
        draft = bc.create(session, runtime, "bench-township", "新一年低保标准调整", "城市低保标准调整为每月{dibao_urban}元。",
                          topic, None, ["wechat", "sms"])
        broadcast_id = draft.id
    started = time.perf_counter()
    with runtime.db.unit_of_work() as session:
        queued = bc.approve(session, runtime, session.get(bc.Broadcast, broadcast_id), "bench-county",
                            now=utcnow().replace(hour=4))  # 12:00 county time: SMS not deferred to 8:00
    return time.perf_counter() - started, queued


def send(runtime, seconds: float) -> dict:
    """Deliver for `seconds` with the configured pacing; the fastest one-second window per channel."""
    senders = {"sms": InstantSender(), "wechat": InstantSender()}
    pacer, policy = Pacer.of(runtime.config.outbox), Policy(batch_size=runtime.config.worker.batch_size)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        deliver_due(runtime, senders, lambda *_: None, policy, now=utcnow() + dt.timedelta(days=1), pacer=pacer)
    rates = {"sms": runtime.config.outbox.sms_per_second, "wechat": runtime.config.outbox.wechat_per_second}
    return {channel: {"configured_per_second": rates[channel], "sent": len(s.stamps),
                      "most_in_any_second": most_in_any_second(s.stamps),
                      "mean_per_second": round(len(s.stamps) / seconds, 2)} for channel, s in senders.items()}


class FakeMassApi:
    """/cgi-bin/token and /cgi-bin/message/mass/send on 127.0.0.1, answering at once."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.calls: list[int] = []  # openids per 群发 call
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self._json({"access_token": "BENCH", "expires_in": 7200})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.startswith(MASS_SEND):
                    api.calls.append(len(body["touser"]))
                self._json({"errcode": 0, "msg_id": 1000 + len(api.calls), "msg_data_id": 1})

            def _json(self, result):
                data = json.dumps(result).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def mass(runtime) -> dict:
    """Seconds to 群发 every queued follower row through the fake API; calls and their sizes."""
    fake = FakeMassApi()
    sender = WechatSender(WeChatApi(runtime.db, "wxbench", "bench-secret", fake.url, timeout=60))
    started = time.perf_counter()
    outcomes = deliver_routed(runtime, sender, Policy(), now=utcnow() + dt.timedelta(days=1))
    seconds = time.perf_counter() - started
    fake.server.shutdown()
    rate = runtime.config.outbox.wechat_per_second
    return {"followers": outcomes["sent"], "calls": len(fake.calls), "openids_per_call": fake.calls,
            "seconds": round(seconds, 2), "per_second": round(outcomes["sent"] / seconds) if seconds else None,
            "customer_service_seconds_at_rate": round(outcomes["sent"] / rate, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--send-seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true", help=f"also write {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    schema = f"bench_bc_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    try:
        runtime = Runtime(load_config(ROOT / "config.toml", environ={"JIUZHU_DATABASE_URL": url}))
        runtime.db.ensure_schema()
        topic = sorted(topic_ids())[0]
        fill(runtime, args.subscribers, topic)
        base_seconds = baseline(runtime)
        approve_seconds, queued = approve(runtime, topic)
        with runtime.db.session() as s:
            rows = s.execute(select(OutboxMessage.id)).all()
        sending = send(runtime, args.send_seconds)
        mass_sending = mass(runtime)
        runtime.db.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    summary = {"date": utcnow().strftime("%Y-%m-%d %H:%M UTC"), "subscribers": args.subscribers,
               "baseline_seconds": round(base_seconds, 2),
               "baseline_per_second": round(args.subscribers / base_seconds),
               "approve_seconds": round(approve_seconds, 2), "queued": queued, "outbox_rows": len(rows),
               "approve_per_second": round(queued / approve_seconds), "send": sending, "mass": mass_sending}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    if args.json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    ok = summary["approve_per_second"] >= TARGET_PER_SECOND and all(
        c["most_in_any_second"] <= c["configured_per_second"] for c in sending.values())
    print("PASS" if ok else "FAIL", f"— targets: ≥ {TARGET_PER_SECOND} recipients/s queued; never over the rate")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
