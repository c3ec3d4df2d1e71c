"""A bounded load test with faults on loopback: simulated residents run full screenings through
both webhooks (wechatpy-encrypted WeChat XML, Twilio-signed SMS forms) against gunicorn as
deployed, on a private PostgreSQL schema reached through a TCP proxy that can be cut.

Used by bench/bench_faults.py (200 residents) and tests/deploy/test_load_faults.py (20).

Each resident sends its next message only after the previous one was answered, as a person
does. A request that fails (connection reset by a killed worker, a 5xx, a timeout, an empty
reply) is retried with the same MsgId / MessageSid, at most 3 attempts, as WeChat's servers do.
"""
from __future__ import annotations

import http.client
import os
import random
import statistics
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import xmltodict
from twilio.request_validator import RequestValidator
from wechatpy.crypto import WeChatCrypto

from tests.deploy.gunicorn_run import HOST, Gunicorn, jiuzhu
from tests.tools.faults import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
WECHAT_TOKEN = "jiuzhu-loadrig-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx0123456789abcdef"
ACCOUNT = "gh_0123456789ab"
TWILIO_TOKEN = "f3c1a9e2b7d44e8a9c0b5d6e7f8a9b0c"
PUBLIC_URL = "https://jiuzhu.example.gov.cn"
ATTEMPTS = 3          # WeChat tries a message three times
REQUEST_TIMEOUT = 5.0  # and gives up on each attempt after 5 s
PG_URL = os.environ.get("JIUZHU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("JIUZHU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# One household's answers (the screening tests' RURAL_FAMILY); name, ID and phone vary per resident.
ANSWERS = {
    "consent": "同意", "program": "低保", "age": "47", "township": "崇贤", "village": "太平村",
    "residence": "农村", "household_size": "五个人", "household_monthly_income": "一个月一千八左右",
    "owns_vehicle": "冇车", "house_count": "一栋老屋", "savings": "没有", "labor_capacity": "能做点零工",
    "has_supporter": "冇", "disability_level": "我妈有四级残疾证", "serious_illness": "冇大病",
    "medical_expense_year": "一千", "emergency": "冇", "emergency_description": "冇", "confirm": "对",
}
OPENING = "我想申请低保"
SURNAMES = "黄李张刘陈杨赵吴周徐"
GIVEN = "春生秋月冬梅建国海燕志强桂英"


def id_number(index: int) -> str:
    """A valid 18-digit ID number (checksum right) unique to the resident."""
    body = f"360732197909{15 + index % 13:02d}{index % 1000:03d}"[:17]
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def answers_for(index: int) -> dict[str, str]:
    """The resident's answers, slot by slot."""
    name = SURNAMES[index % 10] + GIVEN[(index // 10) % 7 * 2:(index // 10) % 7 * 2 + 2]
    return {**ANSWERS, "name": name, "id_number": id_number(index), "phone": f"139{70000000 + index:08d}"}


def record_slots(channel: str, workdir: Path) -> tuple[list[str], str]:
    """The order in which the bot asks for slots in this screening, found once in-process on a
    throw-away SQLite database (the same answers give the same order over HTTP); and the apology
    a resident gets when the database is away ("please send it again in a while")."""
    from bot.config import load_config
    from bot.messages import IncomingMessage
    from bot.runtime import Runtime

    env = {"JIUZHU_DATABASE_URL": f"sqlite:///{workdir / f'record-{channel}.sqlite3'}"}
    runtime = Runtime(load_config(ROOT / "config.toml", environ=env))
    user = "+8613900000000" if channel == "sms" else "oJZ_record"
    answers, slots = answers_for(0), []
    reply = runtime.engine.handle(IncomingMessage(channel=channel, user_id=user, text=OPENING))
    while not reply.done:
        assert reply.expecting in answers, f"unexpected slot {reply.expecting}: {reply.messages}"
        slots.append(reply.expecting)
        reply = runtime.engine.handle(IncomingMessage(channel=channel, user_id=user,
                                                      text=answers[reply.expecting]))
        assert len(slots) < 80, "the screening never ends"
    apology = runtime.kb.message("generic_apology", channel)
    runtime.db.dispose()
    return slots, apology


# ---- the two channels, as their servers send ---------------------------------------------------
def _sign(*parts: str) -> str:
    import hashlib
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class WeChatClient:
    def __init__(self):
        self.crypto = WeChatCrypto(WECHAT_TOKEN, AES_KEY, APP_ID)

    def request(self, user: str, msg_id: int, text: str) -> tuple[str, bytes, dict]:
        now, nonce = str(int(time.time())), str(random.randrange(10**9))
        xml = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
               f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{now}</CreateTime>"
               f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
               f"<MsgId>{msg_id}</MsgId></xml>")
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, now))["xml"]
        query = {"signature": _sign(WECHAT_TOKEN, now, nonce), "timestamp": now, "nonce": nonce,
                 "openid": user, "encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
        body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>").encode()
        return "/wechat?" + urllib.parse.urlencode(query), body, {"Content-Type": "text/xml"}

    def reply(self, body: bytes) -> str:
        """The text the resident sees ('' for "success" or nothing)."""
        if body in (b"", b"success"):
            return ""
        envelope = xmltodict.parse(body)["xml"]
        xml = self.crypto.decrypt_message(body, envelope["MsgSignature"], envelope["TimeStamp"],
                                          envelope["Nonce"])
        return xmltodict.parse(xml)["xml"].get("Content") or ""


class SmsClient:
    def __init__(self):
        self.validator = RequestValidator(TWILIO_TOKEN)

    def request(self, user: str, msg_id: int, text: str) -> tuple[str, bytes, dict]:
        sid = f"SM{msg_id:032x}"
        form = {"SmsMessageSid": sid, "SmsSid": sid, "MessageSid": sid, "NumMedia": "0", "Body": text,
                "From": user, "To": "+15005550006", "AccountSid": "AC" + "1" * 32,
                "SmsStatus": "received", "NumSegments": "1", "ApiVersion": "2010-04-01"}
        signature = self.validator.compute_signature(PUBLIC_URL + "/sms", form)
        return "/sms", urllib.parse.urlencode(form).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}

    @staticmethod
    def reply(body: bytes) -> str:
        doc = xmltodict.parse(body).get("Response") or {}
        messages = doc.get("Message") or []
        messages = messages if isinstance(messages, list) else [messages]
        return "\n".join(m if isinstance(m, str) else (m.get("#text") or m.get("Body") or "")
                         for m in messages)


# ---- the run -----------------------------------------------------------------------------------
@dataclass
class Figures:
    """What one run measured."""
    residents: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)   # every attempt that got an answer
    statuses: dict[str, int] = field(default_factory=dict)  # attempt outcome -> count
    retried: int = 0           # messages answered only on a 2nd or 3rd attempt
    apologies: int = 0         # "please send it again" (the database was away): the resident re-sent
    lost: list[str] = field(default_factory=list)     # messages never answered: not in 3 attempts, nor later
    late: int = 0      # messages answered after the channel stopped waiting, through the outbox
    doubled: list[str] = field(default_factory=list)  # a message whose attempts got different answers
    unfinished: list[str] = field(default_factory=list)  # screenings that did not end with a reference
    cut_off: int = 0   # screenings still under way when the run's deadline came
    finished: int = 0  # screenings that ended with an application reference
    in_flight: int = 0  # residents whose last request was still open when the run was counted
    leads: int = 0
    distinct_lead_residents: int = 0
    faults: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return len(self.latencies)

    def summary(self) -> dict:
        lat = sorted(self.latencies) or [0.0]
        return {"residents": self.residents, "seconds": round(self.seconds, 1),
                "answered": self.messages, "per_second": round(self.messages / max(self.seconds, 1e-9), 1),
                "p50_ms": round(statistics.median(lat) * 1000, 1),
                "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1),
                "statuses": dict(sorted(self.statuses.items())), "retried": self.retried, "apologies": self.apologies, "late": self.late,
                "lost": len(self.lost), "doubled": len(self.doubled), "unfinished": len(self.unfinished),
                "cut_off_by_deadline": self.cut_off, "finished": self.finished,
                "leads": self.leads, "distinct_lead_residents": self.distinct_lead_residents,
                "faults": self.faults}

    def problems(self) -> list[str]:
        """Everything a resident or a caseworker would notice."""
        found = [f"{n} × {s}" for s, n in self.statuses.items() if s.startswith("HTTP 5")]
        found += [f"lost reply: {x}" for x in self.lost[:5]]
        found += [f"doubled reply: {x}" for x in self.doubled[:5]]
        found += [f"screening not finished: {x}" for x in self.unfinished[:5]]
        if self.distinct_lead_residents != self.leads or \
                not self.finished <= self.leads <= self.finished + self.in_flight:
            found.append(f"{self.leads} leads for {self.distinct_lead_residents} residents, "
                         f"expected exactly one each of the {self.finished} finished screenings")
        return found


class Rig:
    """gunicorn (deploy/gunicorn.conf.py) on a fresh PostgreSQL schema behind a TcpProxy."""

    def __init__(self, workdir: Path, workers: int = 4, pg_url: str = PG_URL, redis_url: str = REDIS_URL):
        from sqlalchemy import create_engine, text
        self.workdir, self.workers = workdir, workers
        self.schema = f"loadrig_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(pg_url)
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        parsed = urllib.parse.urlsplit(pg_url)
        self.proxy = TcpProxy(parsed.port or 5432, parsed.hostname or HOST)
        options = f"options=-csearch_path%3D{self.schema}"
        direct = f"{pg_url}{'&' if '?' in pg_url else '?'}{options}"
        proxied = direct.replace(f":{parsed.port or 5432}/", f":{self.proxy.port}/", 1)
        self.direct_url = direct
        config = (ROOT / "config.toml").read_text(encoding="utf-8")
        import re
        for key, value in (("messages_per_minute", 100000), ("timestamp_window_seconds", 3600)):
            config = re.sub(rf"(?m)^{key}\s*=\s*\d+", f"{key} = {value}", config)
        (workdir / "config.toml").write_text(config, encoding="utf-8")
        from bot.privacy import generate_key
        self.env = {"JIUZHU_MODE": "production", "JIUZHU_DATA_KEY": generate_key(),
                    "JIUZHU_SECRET_KEY": uuid.uuid4().hex * 2, "JIUZHU_CONFIG": str(workdir / "config.toml"), "JIUZHU_DATABASE_URL": proxied,
                    "JIUZHU_WECHAT_TOKEN": WECHAT_TOKEN, "JIUZHU_WECHAT_AES_KEY": AES_KEY,
                    "JIUZHU_WECHAT_APP_ID": APP_ID, "JIUZHU_WECHAT_APP_SECRET": "s" * 32,
                    "JIUZHU_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "JIUZHU_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
                    "JIUZHU_TWILIO_FROM": "+15005550006", "JIUZHU_PUBLIC_URL": PUBLIC_URL,
                    "JIUZHU_REDIS_URL": redis_url}
        self.server = None
        try:
            done = jiuzhu("db", "upgrade", env={**self.env, "JIUZHU_DATABASE_URL": direct})
            assert done.returncode == 0, done.stderr[-2000:]
            self.server = Gunicorn(self.env, workdir / "gunicorn.log", workers=self.workers).wait_ready()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        from sqlalchemy import text
        if self.server:
            self.server.stop()
        self.proxy.close()
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        self.admin.dispose()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- faults --
    def kill_worker(self) -> str:
        """kill -9 one worker (the master forks a new one)."""
        pids = self.server.worker_pids()
        if not pids:
            return "kill -9: no worker"
        pid = random.choice(pids)
        os.kill(pid, 9)
        return f"kill -9 worker {pid}"

    def drop_database(self, seconds: float) -> str:
        """Every connection to PostgreSQL reset, new ones refused for `seconds` (as a restart)."""
        self.proxy.cut()
        time.sleep(seconds)
        self.proxy.restore()
        return f"PostgreSQL cut for {seconds:g} s"

    def late_reply(self, channel: str, msg_id: int, wait: float = 10.0) -> str:
        """The reply the outbox holds for a message whose deliveries all went unanswered (a slow
        first delivery sends it late, as a customer-service message or an SMS): '' if none comes
        within `wait` seconds (the worker that would send it is not part of the rig)."""
        from sqlalchemy import create_engine, text

        from bot.privacy import DataProtector
        protector = DataProtector.from_secrets(self.env["JIUZHU_DATA_KEY"], development=False)
        claim = f"wechat:m:{msg_id}:0" if channel == "wechat" else f"sms-late:SM{msg_id:032x}:0"
        key = protector.blind_index("outbox", claim)
        engine = create_engine(self.direct_url)
        try:
            until = time.monotonic() + wait
            while True:
                with engine.connect() as conn:
                    body = conn.execute(text("SELECT body FROM outbox WHERE idempotency_key = :k"),
                                        {"k": key}).scalar()
                if body is not None or time.monotonic() > until:
                    return protector.decrypt(body) if body is not None else ""
                time.sleep(0.5)
        finally:
            engine.dispose()

    def count_leads(self) -> tuple[int, int]:
        from sqlalchemy import create_engine, text
        engine = create_engine(self.direct_url)
        try:
            with engine.connect() as conn:
                row = conn.execute(text("SELECT count(*), count(DISTINCT channel || user_key) FROM leads")).one()
        finally:
            engine.dispose()
        return int(row[0]), int(row[1])

    # -- load --
    def run(self, residents: int, faults: list[tuple[float, str]] = (), deadline: float = 600,
            think: float = 0.0) -> Figures:
        """`residents` full screenings at once, half per channel; `faults` are (seconds after the
        start, "kill" | "db:SECONDS"). `think`: mean seconds a resident takes to type the next
        answer (uniform 0–2×think; also spreads the first messages). Stops by itself at
        `deadline` seconds."""
        recorded = {ch: record_slots(ch, self.workdir) for ch in ("wechat", "sms")}
        figures, lock = Figures(residents), threading.Lock()
        clients = {"wechat": WeChatClient(), "sms": SmsClient()}
        stop_at = time.monotonic() + deadline
        run_id = random.randrange(10**6)

        def attempt(channel: str, user: str, msg_id: int, text: str) -> tuple[str, str]:
            path, body, headers = clients[channel].request(user, msg_id, text)
            conn = http.client.HTTPConnection(HOST, self.server.port, timeout=REQUEST_TIMEOUT)
            started = time.monotonic()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                return type(error).__name__, ""
            finally:
                conn.close()
            if response.status != 200:
                return f"HTTP {response.status}", ""
            reply = clients[channel].reply(data)
            if reply:
                latency = time.monotonic() - started  # taken before waiting for the lock
                with lock:
                    figures.latencies.append(latency)
            return ("HTTP 200" if reply else "HTTP 200 empty"), reply

        def resident(index: int) -> None:
            channel = "wechat" if index % 2 == 0 else "sms"
            user = f"oJZ_load_{run_id}_{index:04d}" if channel == "wechat" else f"+86139{run_id % 10**4:04d}{index:04d}"
            answers = answers_for(index)
            slots, apology = recorded[channel]
            texts = [OPENING] + [answers[s] for s in slots]
            last, n, sends = "", 0, 0
            time.sleep(random.uniform(0, 2 * think))
            while n < len(texts):
                text = texts[n]
                sends += 1
                msg_id = (run_id * 10**4 + index) * 1000 + sends + 7_000_000_000_000_000_000
                replies = []
                if time.monotonic() > stop_at:
                    with lock:
                        figures.cut_off += 1
                    return
                for tries in range(ATTEMPTS):
                    outcome, reply = attempt(channel, user, msg_id, text)
                    with lock:
                        figures.statuses[outcome] = figures.statuses.get(outcome, 0) + 1
                    if reply:
                        replies.append(reply)
                        break
                    time.sleep(0.2 * (tries + 1))
                where = f"{channel} resident {index} message {n} ({text})"
                if not replies:  # the resident reads it when the outbox sends it, and goes on
                    replies = [r for r in [self.late_reply(channel, msg_id)] if r]
                    if replies:
                        with lock:
                            figures.late += 1
                apologised = bool(replies) and replies[-1].startswith(apology[:12]) and sends < len(texts) + 20
                with lock:
                    if not replies:
                        figures.lost.append(where)
                        return  # the resident gives up; the screening stays unfinished
                    if tries:
                        figures.retried += 1
                    if apologised:
                        figures.apologies += 1
                if apologised:  # a person sends the same answer again, a new message (never under the lock)
                    time.sleep(1.0)
                    continue
                last = replies[-1]
                n += 1
                time.sleep(random.uniform(0, 2 * think))
            with lock:
                if "编号" in last:
                    figures.finished += 1
                else:
                    figures.unfinished.append(f"{channel} resident {index}: {last[:60]}")

        def injector() -> None:
            begun = time.monotonic()
            for at, what in sorted(faults):
                time.sleep(max(0.0, at - (time.monotonic() - begun)))
                note = self.kill_worker() if what == "kill" else self.drop_database(float(what.split(":")[1]))
                figures.faults.append(f"{at:g}s: {note}")

        threads = [threading.Thread(target=resident, args=(i,), daemon=True) for i in range(residents)]
        started = time.monotonic()
        fault_thread = threading.Thread(target=injector, daemon=True)
        fault_thread.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, stop_at - time.monotonic()) + 1)
        figures.seconds = time.monotonic() - started
        in_flight = sum(t.is_alive() for t in threads)  # still waiting on their last request
        with lock:
            figures.cut_off += in_flight
            figures.in_flight = in_flight
        fault_thread.join(5)
        self.proxy.restore()
        self.server.wait_ready(60)
        figures.leads, figures.distinct_lead_residents = self.count_leads()
        return figures


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="loadrig-"))
