"""Benchmark WeChat safe-mode text messages answered end to end through gunicorn.

The bot (deploy/gunicorn.conf.py + deploy/wsgi.py) and a bare Flask + wechatpy
echo (bench/echo_app.py) are served side by side by gunicorn on 127.0.0.1 with
the same worker count. Each gets untimed warm-up requests, then a fixed number
of distinct, signed and encrypted messages from a few keep-alive client
threads, in rounds that alternate between the two servers; every reply must
decrypt to a TextReply. Only 127.0.0.1 is contacted, and the run stops by itself.

    .venv/bin/python bench/bench_wechat.py [--json] [--requests 3000] [--rounds 3]
                                           [--clients 4] [--workers N] [--postgres]
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import re
import runpy
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

import gunicorn
import xmltodict
from wechatpy.crypto import WeChatCrypto

ROOT = Path(__file__).resolve().parents[1]
DEV_FILE = ROOT / "tests" / "data" / "dev-questions.jsonl"
CHALLENGE_FILE = ROOT / "bench/questions/challenge.jsonl"
RESULTS = ROOT / "bench/results/wechat.json"
HOST = "127.0.0.1"  # the only address this benchmark ever sends to
REDIS_URL = os.environ.get("JIUZHU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("JIUZHU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Benchmark-only secrets, never a real account's.
TOKEN, APP_ID, ACCOUNT = "jiuzhu-bench-token", "wxbench0123456789", "gh_bench0123456"
AES_KEY = "benchbenchbenchbenchbenchbenchbenchbench012"  # 43 characters
TARGET_RATIO, TARGET_P99_MS = 0.50, 50.0
_ENVELOPE = re.compile(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>.*?<MsgSignature><!\[CDATA\[(.*?)\]\]>", re.DOTALL)


def load_questions() -> tuple[str, list[str]]:
    """The dev questions if present, else the challenge set: (file name, questions)."""
    path = DEV_FILE if DEV_FILE.exists() else CHALLENGE_FILE
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            questions.append(str(json.loads(line)["q"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return path.name, [q for q in questions if q.strip()]


def write_config(directory: Path, semantic: bool = True) -> Path:
    """config.toml with a rate limit and timestamp window no benchmark run can reach; without
    `semantic`, the matcher's semantic second opinion off (the webhook pipeline's own cost)."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    settings = [("messages_per_minute", 100000), ("timestamp_window_seconds", 3600)]
    if not semantic:
        text, n = re.subn(r"(?m)^semantic\s*=\s*true", "semantic = false", text)
        if n != 1:
            raise SystemExit("config.toml: expected one `semantic = true` line")
    for key, value in settings:
        text, n = re.subn(rf"(?m)^{key}\s*=\s*\d+", f"{key} = {value}", text)
        if n != 1:
            raise SystemExit(f"config.toml: expected one `{key} = …` line, found {n}")
    raw = tomllib.loads(text)
    assert raw["rate_limit"]["messages_per_minute"] == 100000
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def make_database(args, directory: Path) -> tuple[str, Callable[[], None]]:
    """A fresh SQLite file, or a fresh PostgreSQL schema: (URL, clean-up)."""
    if not args.postgres:
        return f"sqlite:///{directory / 'bench.sqlite3'}", lambda: None
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(args.postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in args.postgres_url else "?"
    return f"{args.postgres_url}{sep}options=-csearch_path%3D{schema}", drop


def build_payloads(crypto: WeChatCrypto, questions: list[str], count: int, first_id: int,
                   residents: int) -> list[dict]:
    """`count` distinct messages, signed and encrypted as WeChat's servers send them."""
    payloads, now = [], str(int(time.time()))
    for i in range(count):
        msg_id, openid = first_id + i, f"oJZ_bench_resident_{i % residents:04d}"
        content = questions[i % len(questions)]
        xml = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
               f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime>"
               f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
               f"<MsgId>{msg_id}</MsgId></xml>")
        nonce = str(msg_id % 10**9)
        encrypt, msg_signature = _ENVELOPE.search(crypto.encrypt_message(xml, nonce, now)).groups()
        query = {"signature": _sign(TOKEN, now, nonce), "timestamp": now, "nonce": nonce,
                 "openid": openid, "encrypt_type": "aes", "msg_signature": msg_signature}
        body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>").encode()
        payloads.append({"path": "/wechat?" + urllib.parse.urlencode(query), "body": body,
                         "content": content, "openid": openid})
    return payloads


def _sign(*parts: str) -> str:
    """WeChat's URL signature: sha1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


# ---- servers -----------------------------------------------------------------------------
def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(name: str, target: list[str], env: dict, workers: int, log_dir: Path) -> dict:
    """Start gunicorn with deploy/gunicorn.conf.py on a free port (its output goes to a log file)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py")]
    if gunicorn.version_info >= (25, 1):
        command.append("--no-control-socket")  # two masters must not fight over one socket
    log_path = log_dir / f"{name}.log"
    env = {**env, "JIUZHU_BIND": f"{HOST}:{port}", "JIUZHU_WORKERS": str(workers)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command + target, cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return {"name": name, "port": port, "process": process, "log": log_path}


def wait_ready(server: dict, workers: int, timeout: float = 90) -> None:
    """Block until /healthz is 200 and every worker has booted; exit with the log if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server["process"].poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection(HOST, server["port"], timeout=5)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok and len(worker_pids(server)) == workers:
                return
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(server)
    tail = server["log"].read_text(errors="replace")[-3000:]
    raise SystemExit(f"{server['name']}: gunicorn did not become ready\n{tail}")


def stop_server(server: dict) -> None:
    """SIGTERM the master (it stops its workers); SIGKILL the group if it hangs."""
    process = server["process"]
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def worker_pids(server: dict) -> list[int]:
    """The master's child processes (its workers)."""
    pid = server["process"].pid
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


# ---- load --------------------------------------------------------------------------------
def run_load(port: int, payloads: list[dict], clients: int) -> tuple[list[tuple], float]:
    """POST every payload once from `clients` keep-alive threads: [(status, body, seconds)], wall time."""
    results: list[tuple | None] = [None] * len(payloads)
    indexes, lock = iter(range(len(payloads))), threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        headers = {"Content-Type": "text/xml"}
        while True:
            with lock:
                i = next(indexes, None)
            if i is None:
                break
            p = payloads[i]
            start = time.perf_counter()
            try:  # http.client reconnects by itself when the server closed the connection
                conn.request("POST", p["path"], p["body"], headers)
                response = conn.getresponse()
                results[i] = (response.status, response.read(), time.perf_counter() - start)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                results[i] = (None, repr(exc).encode(), time.perf_counter() - start)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - start


def check_reply(crypto: WeChatCrypto, payload: dict, status, body: bytes, echo: bool,
                bad_texts: dict[str, str]) -> str | None:
    """None if the reply is a correct encrypted TextReply to this resident; else the kind of error."""
    if status != 200:
        return f"HTTP {status}"
    try:
        envelope = xmltodict.parse(body)["xml"]
        xml = crypto.decrypt_message(body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        reply = xmltodict.parse(xml)["xml"]
    except Exception:  # noqa: BLE001 — anything unreadable is an error of the same kind
        return "not an encrypted reply"
    if (reply.get("MsgType"), reply.get("ToUserName"), reply.get("FromUserName")) != \
            ("text", payload["openid"], ACCOUNT) or not reply.get("Content"):
        return "not a TextReply to the resident"
    if echo and reply["Content"] != payload["content"]:
        return "echo differs"
    for kind, text in bad_texts.items():
        if not echo and reply["Content"] == text:
            return kind
    return None


def measure(server: dict, payloads: list[dict], warmup: int, clients: int) -> dict:
    """Warm up (untimed), then time the rest; replies are checked later, off the clock."""
    warm, timed = payloads[:warmup], payloads[warmup:]
    warm_results, _ = run_load(server["port"], warm, clients)
    pids = worker_pids(server)
    cpu_before, client_before, ticks_before = cpu_seconds(pids), time.process_time(), machine_ticks()
    results, wall = run_load(server["port"], timed, clients)
    busy, total = (a - b for a, b in zip(machine_ticks(), ticks_before))
    return {"seconds": wall, "server_cpu": cpu_seconds(pids) - cpu_before, "busy": busy, "ticks": total,
            "client_cpu": time.process_time() - client_before,
            "latencies_ms": [r[2] * 1000 for r in results], "replies": list(zip(payloads, warm_results + results))}


def summarise(name: str, rounds: list[dict], crypto: WeChatCrypto, bad_texts: dict[str, str]) -> dict:
    """Requests/s and latency percentiles over all rounds; every reply checked, warm-up included."""
    errors: dict[str, int] = {}
    for r in rounds:
        for payload, (status, body, _) in r["replies"]:
            kind = check_reply(crypto, payload, status, body, name == "echo", bad_texts)
            if kind:
                errors[kind] = errors.get(kind, 0) + 1
    ms = sorted(x for r in rounds for x in r["latencies_ms"])
    seconds = sum(r["seconds"] for r in rounds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"requests": len(ms), "warmup": sum(len(r["replies"]) for r in rounds) - len(ms),
            "seconds": seconds, "rps": len(ms) / seconds,
            "rps_by_round": [len(r["latencies_ms"]) / r["seconds"] for r in rounds],
            "p50_ms": cuts[49], "p95_ms": cuts[94], "p99_ms": cuts[98], "max_ms": ms[-1],
            "mean_ms": statistics.fmean(ms), "errors": sum(errors.values()), "error_kinds": errors,
            "server_cpu_ms_per_request": 1000 * sum(r["server_cpu"] for r in rounds) / len(ms),
            "client_cpu_ms_per_request": 1000 * sum(r["client_cpu"] for r in rounds) / len(ms),
            "machine_cpu_busy": sum(r["busy"] for r in rounds) / max(1, sum(r["ticks"] for r in rounds))}


# ---- report ------------------------------------------------------------------------------
def default_workers() -> int:
    """What deploy/gunicorn.conf.py picks without JIUZHU_WORKERS (cores + 1, at most 8)."""
    return runpy.run_path(str(ROOT / "deploy/gunicorn.conf.py"))["default_workers"]()


def machine() -> dict:
    """nproc, CPU model, Python and gunicorn versions."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown")
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "gunicorn": gunicorn.__version__}


def print_table(report: dict) -> None:
    """The compact human-readable summary."""
    bot, echo = report["bot"], report["echo"]
    rows = (("requests (timed)", "requests", "{:,}"), ("requests/s", "rps", "{:,.0f}"),
            ("p50 latency, ms", "p50_ms", "{:.1f}"), ("p95 latency, ms", "p95_ms", "{:.1f}"),
            ("p99 latency, ms", "p99_ms", "{:.1f}"), ("max latency, ms", "max_ms", "{:.1f}"),
            ("server CPU ms/request", "server_cpu_ms_per_request", "{:.2f}"),
            ("client CPU ms/request", "client_cpu_ms_per_request", "{:.2f}"),
            ("machine CPU busy", "machine_cpu_busy", "{:.0%}"),
            ("errors", "errors", "{:,}"))
    print(f"{'':24s}{'jiuzhu bot':>14s}{'bare echo':>14s}")
    for label, key, fmt in rows:
        print(f"{label:24s}{fmt.format(bot[key]):>14s}{fmt.format(echo[key]):>14s}")
    print("requests/s by round: bot " + " / ".join(f"{x:,.0f}" for x in bot["rps_by_round"])
          + ", echo " + " / ".join(f"{x:,.0f}" for x in echo["rps_by_round"]))
    for name, r in (("bot", bot), ("echo", echo)):
        if r["error_kinds"]:
            print(f"{name} errors: " + ", ".join(f"{k} × {n}" for k, n in r["error_kinds"].items()))
    ok = lambda flag: "ok" if flag else "NOT MET"
    t = report["targets"]
    print(f"ratio bot/echo {t['ratio']:.1%} (target ≥ {TARGET_RATIO:.0%}: {ok(t['ratio_met'])}); "
          f"bot p99 {bot['p99_ms']:.1f} ms (target < {TARGET_P99_MS:g} ms: {ok(t['p99_met'])}); "
          f"errors {bot['errors'] + echo['errors']} (target 0: {ok(t['errors_met'])})")
    m, s = report["machine"], report["setup"]
    print(f"{report['date']} · {m['nproc']} × {m['cpu']} · Python {m['python']} · gunicorn {m['gunicorn']} "
          f"· {s['workers']} sync workers each · {s['clients']} client threads · {s['database']} · "
          f"rate limit {s['rate_limit']} · semantic layer {'on' if s.get('semantic', True) else 'off'} · "
          f"questions from {s['questions']}")


def main() -> int:
    """Start both servers, load each in turn, print the table, optionally write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help=f"also write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per server (default 3000)")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests per server first (default 300)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate bot and echo this many times, the requests split evenly (default 3)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="gunicorn workers per server (default as in production: cores + 1, at most 8)")
    parser.add_argument("--residents", type=int, default=200, help="distinct senders (default 200)")
    parser.add_argument("--postgres", action="store_true", help="a fresh schema in PostgreSQL, not SQLite")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="(default: %(default)s)")
    parser.add_argument("--redis", nargs="?", const=REDIS_URL, default=None, metavar="URL",
                        help="count the rate limit in Redis, as in production (default URL: %(const)s); "
                             "without it each worker counts on its own")
    parser.add_argument("--no-semantic", action="store_true",
                        help="the matcher's semantic second opinion off ([matching] semantic = false)")
    parser.add_argument("--keep-logs", action="store_true", help="print where the gunicorn logs are; keep them")
    args = parser.parse_args()
    if min(args.requests, args.clients, args.workers, args.residents, args.rounds) < 1 or args.warmup < 0:
        parser.error("counts must be positive")
    if args.requests < args.rounds:
        parser.error("need at least one timed request per round")

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from bot.runtime import Runtime
    from bot.privacy import generate_key

    questions_file, questions = load_questions()
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    tmp = Path(tempfile.mkdtemp(prefix="jiuzhu-bench-"))
    servers, drop_database = {}, lambda: None
    try:
        config_path = write_config(tmp, semantic=not args.no_semantic)
        kb = Runtime.from_path(str(config_path)).kb
        bad_texts = {"apology (an engine error)": kb.message("generic_apology", "wechat"),
                     "rate limited": kb.message("rate_limited", "wechat")}
        database_url, drop_database = make_database(args, tmp)
        env = {**os.environ, "JIUZHU_CONFIG": str(config_path), "JIUZHU_DATABASE_URL": database_url,
               "JIUZHU_WECHAT_TOKEN": TOKEN, "JIUZHU_WECHAT_APP_ID": APP_ID, "JIUZHU_WECHAT_AES_KEY": AES_KEY,
               "JIUZHU_DATA_KEY": generate_key(),  # PostgreSQL is refused on the public development key
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        env.pop("JIUZHU_REDIS_URL", None)
        if args.redis:
            env["JIUZHU_REDIS_URL"] = args.redis
        # as at deploy time: the schema first, then the server (which only checks it)
        subprocess.run([str(Path(sys.executable).with_name("jiuzhu")), "db", "upgrade"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        servers["bot"] = start_server("bot", ["deploy.wsgi:app"], env, args.workers, tmp)
        servers["echo"] = start_server("echo", ["--pythonpath", str(ROOT / "bench"), "echo_app:app"],
                                       env, args.workers, tmp)
        for server in servers.values():
            wait_ready(server, args.workers)
        first_id = int(time.time()) * 10**6
        report = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "machine": machine(),
                  "setup": {"workers": args.workers, "clients": args.clients, "residents": args.residents,
                            "rounds": args.rounds, "database": "PostgreSQL" if args.postgres else "SQLite (WAL)",
                            "questions": questions_file, "worker_class": "sync",
                            "rate_limit": "Redis" if args.redis else "per worker",
                            "semantic": not args.no_semantic}}
        rounds: dict[str, list[dict]] = {"bot": [], "echo": []}
        per_round = [args.requests // args.rounds + (i < args.requests % args.rounds) for i in range(args.rounds)]
        warmup = args.warmup  # the first round warms up; later rounds only re-prime keep-alive
        for timed in per_round:  # alternate, so a slow spell of a shared machine hits both alike
            for name in ("bot", "echo"):  # fresh payloads: distinct MsgIds, fresh timestamps
                payloads = build_payloads(crypto, questions, warmup + timed, first_id, args.residents)
                first_id += len(payloads)
                rounds[name].append(measure(servers[name], payloads, warmup, args.clients))
            warmup = min(args.warmup, args.clients * 5)
    finally:
        for server in servers.values():
            stop_server(server)
        drop_database()
        if args.keep_logs:
            print(f"gunicorn logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    for name in ("bot", "echo"):
        report[name] = summarise(name, rounds[name], crypto, bad_texts)
    ratio = report["bot"]["rps"] / report["echo"]["rps"]
    report["targets"] = {"ratio": ratio, "ratio_met": ratio >= TARGET_RATIO,
                         "p99_met": report["bot"]["p99_ms"] < TARGET_P99_MS,
                         "errors_met": report["bot"]["errors"] + report["echo"]["errors"] == 0}
    print_table(report)
    if args.json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
