"""Benchmark the jiuzhu matcher against a plain jieba + BM25 baseline.

Both systems answer the same labelled questions in one process: in-scope top-1
accuracy, out-of-scope rejection and warm single-thread throughput of the plain
matcher; with the optional semantic layer installed, its accuracy too and its
cost per question it is asked about. Then the cold `jiuzhu ask` command is
timed and its peak memory measured.

    .venv/bin/python bench/bench_matcher.py [--json] [--seconds 2] [--runs 10]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single thread: keep numpy's BLAS to one core

import argparse
import dataclasses
import datetime as dt
import json
import logging
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jieba
import numpy as np
from rank_bm25 import BM25Okapi

ROOT = Path(__file__).resolve().parents[1]
DEV_FILE = ROOT / "tests" / "data" / "dev-questions.jsonl"
QUESTION_DIR = ROOT / "bench/questions"
HELDOUT_STYLE = ROOT / "tests/data/heldout-style.jsonl"
RESULTS = ROOT / "bench/results/matcher.json"
ASK = [str(ROOT / ".venv/bin/jiuzhu"), "ask", "--json", "低保标准是多少"]
TARGET_SECONDS, TARGET_MB = 1.0, 150
# Runs a command in a fresh child and prints the child's peak RSS in KiB.
MAXRSS_WRAPPER = ("import resource, subprocess, sys\n"
                  "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
                  "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def load_questions() -> dict[str, list[dict]]:
    """Each question file (dev set if present, bench/questions/*.jsonl, tests/data/heldout-style.jsonl) → its rows."""
    paths = ([DEV_FILE] if DEV_FILE.exists() else []) + sorted(QUESTION_DIR.glob("*.jsonl")) + [HELDOUT_STYLE]
    files = {}
    for path in paths:
        rows, bad = [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append({"q": str(row["q"]), "topic": row.get("topic"),
                             "style": row.get("style")})
            except (json.JSONDecodeError, KeyError, TypeError):
                bad += 1
        if bad:
            print(f"warning: {path.name}: skipped {bad} unreadable line(s)", file=sys.stderr)
        if rows:
            files[path.name] = rows
    return files


class Bm25Baseline:
    """Plain jieba + BM25Okapi, one document per entry; no synonyms, pinyin or tuning."""

    def __init__(self, entries):
        jieba.setLogLevel(logging.WARNING)
        self.entries = entries
        docs = [self.tokens(" ".join([e.title, *e.questions, *e.keywords])) for e in entries]
        self.index = BM25Okapi(docs)

    @staticmethod
    def tokens(text: str) -> list[str]:
        """jieba.lcut with the default dictionary, whitespace tokens dropped."""
        return [t for t in jieba.lcut(text) if t.strip()]

    def predict(self, question: str) -> str | None:
        """Topic of the top-scoring entry; None for a decline entry or no overlap."""
        scores = self.index.get_scores(self.tokens(question))
        best = int(np.argmax(scores))
        return self.entries[best].topic if scores[best] > 0 else None


class Bm25PhrasingBaseline(Bm25Baseline):
    """Plain jieba + BM25Okapi, one document per FAQ phrasing (question-to-question retrieval)."""

    def __init__(self, entries):
        jieba.setLogLevel(logging.WARNING)
        self.entries = entries
        self.owner = [e for e in entries for _ in (e.title, *e.questions)]
        self.index = BM25Okapi([self.tokens(p) for e in entries for p in (e.title, *e.questions)])

    def predict(self, question: str) -> str | None:
        """Topic of the entry of the top-scoring phrasing; None for a decline entry or no overlap."""
        scores = self.index.get_scores(self.tokens(question))
        best = int(np.argmax(scores))
        return self.owner[best].topic if scores[best] > 0 else None


def jiuzhu_ranked(rt):
    """jiuzhu's best-ranked topic whatever its confidence — comparable to baselines that always answer."""
    def predict(question: str) -> str | None:
        _, scored = rt.matcher.scored(question)
        return scored[0].entry.topic if scored else None
    return predict


def semantic_cost(rt, questions: list[str], rounds: int = 3) -> dict | None:
    """How often the semantic layer is asked and what one asking costs (encoding + blend)."""
    matcher = rt.matcher
    if matcher.semantic is None:
        return None
    unsure = []
    for q in questions:
        text, scored = matcher.scored(q[: rt.config.matching.max_question_chars])
        if text and scored and matcher.semantic.unsure(scored):
            unsure.append((text, scored))
    times = []
    for _ in range(rounds):
        for text, scored in unsure:
            start = time.perf_counter()
            matcher.semantic.rescore(text, scored)
            times.append(time.perf_counter() - start)
    return {"questions": len(questions), "asked": len(unsure), "share_asked": len(unsure) / len(questions),
            "median_ms": statistics.median(times) * 1000 if times else None,
            "mean_ms": statistics.fmean(times) * 1000 if times else None,
            "mean_ms_per_question": sum(times) / rounds / len(questions) * 1000}


def evaluate(predict, rows: list[dict]) -> dict:
    """In-scope top-1 hits and out-of-scope rejections of one system on rows."""
    c = {"in_right": 0, "in_wrong": 0, "in_total": 0, "out_right": 0, "out_total": 0}
    for row in rows:
        got = predict(row["q"])
        if row["topic"] is None:
            c["out_total"] += 1
            c["out_right"] += got is None
        else:
            c["in_total"] += 1
            c["in_right"] += got == row["topic"]
            c["in_wrong"] += got is not None and got != row["topic"]  # answered, wrong topic
    c["in_top1"] = c["in_right"] / c["in_total"] if c["in_total"] else None
    c["in_wrong_rate"] = c["in_wrong"] / c["in_total"] if c["in_total"] else None
    c["out_rejected"] = c["out_right"] / c["out_total"] if c["out_total"] else None
    return c


def score(systems: dict, rows: list[dict]) -> dict:
    """Question counts and every system's evaluation on rows."""
    out = {"in_scope": sum(r["topic"] is not None for r in rows),
           "out_of_scope": sum(r["topic"] is None for r in rows)}
    out.update({s: evaluate(predict, rows) for s, predict in systems.items()})
    return out


def throughput(systems: dict, questions: list[str], seconds: float, min_rounds: int = 3) -> dict:
    """Warm questions per second for each system, over whole passes of the questions.

    The systems take turns, one pass each per round (the order rotating), until
    every system has had `seconds` of timed work: on a shared machine whose speed
    drifts from minute to minute, each system then sees the same conditions.
    """
    names = list(systems)
    spent = dict.fromkeys(names, 0.0)
    rounds = 0
    while rounds < min_rounds or min(spent.values()) < seconds:
        for name in names[rounds % len(names):] + names[:rounds % len(names)]:
            predict = systems[name]
            start = time.perf_counter()
            for q in questions:
                predict(q)
            spent[name] += time.perf_counter() - start
        rounds += 1
    return {name: {"passes": rounds, "questions": rounds * len(questions), "seconds": spent[name],
                   "qps": rounds * len(questions) / spent[name]} for name in names}


def cold_ask(runs: int) -> dict:
    """Wall time of `jiuzhu ask --json` (after one warm-up run) and its peak RSS."""
    warm = subprocess.run(ASK, cwd=ROOT, capture_output=True, text=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(ASK, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    out = subprocess.run([sys.executable, "-c", MAXRSS_WRAPPER, *ASK], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return {"command": " ".join(["jiuzhu", *ASK[1:]]), "runs": runs,
            "median_s": statistics.median(times), "max_s": max(times),
            "peak_rss_mib": int(out.stdout.split()[-1]) / 1024,
            "topic": json.loads(warm.stdout.splitlines()[-1]).get("topic")}


def machine() -> dict:
    """nproc, CPU model and Python version of this machine."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown")
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def pct(value: float | None, right: int, total: int) -> str:
    """'85.0% (102/120)', or '—' when there is nothing to count."""
    return "—" if value is None else f"{value:6.1%} ({right}/{total})"


def print_table(report: dict) -> None:
    """The compact human-readable summary."""
    names = ("jiuzhu", "jiuzhu_ranked", "baseline", "baseline_phrasings")
    heads = ("jiuzhu (answers)", "jiuzhu (top-ranked)", "bm25 per entry", "bm25 per phrasing")
    if report.get("semantic"):
        names, heads = ("jiuzhu_semantic", *names), ("+ semantic", *heads)
    print(f"{'questions':26s}" + "".join(f"{h:>21s}" for h in heads))
    for name, f in report["files"].items():
        print(f"{name} — {f['in_scope']} in scope, {f['out_of_scope']} out of scope")
        for label, key, right, total in (
                ("  in-scope top-1", "in_top1", "in_right", "in_total"),
                ("  in-scope wrong topic", "in_wrong_rate", "in_wrong", "in_total"),
                ("  out-of-scope rejected", "out_rejected", "out_right", "out_total")):
            print(f"{label:26s}" + "".join(f"{pct(f[n][key], f[n][right], f[n][total]):>21s}" for n in names))
        for style, st in f.get("by_style", {}).items():
            short = lambda v: "—" if v is None else f"{v:.0%}"  # noqa: E731
            print(f"  · {style:11s} {st['in_scope']:3d} in {st['out_of_scope']:3d} out  top-1 "
                  + " / ".join(short(st[n]["in_top1"]) for n in names)
                  + "   rejected " + " / ".join(short(st[n]["out_rejected"]) for n in names))
    s = report["speed"]
    pad = f"{'':>21s}" if report.get("semantic") else ""
    print(f"{'warm q/s (1 thread)':26s}{pad}{s['jiuzhu']['qps']:>21,.0f}{'':>21s}{s['baseline']['qps']:>21,.0f}"
          f"{s['baseline_phrasings']['qps']:>21,.0f}")
    print(f"speed ratio jiuzhu (plain path)/baseline: {s['ratio']:.2f}× per entry, "
          f"{s['ratio_phrasings']:.2f}× per phrasing")
    sem = report.get("semantic")
    if sem:
        print(f"semantic layer: asked about {sem['asked']}/{sem['questions']} questions ({sem['share_asked']:.0%}), "
              f"median {sem['median_ms']:.1f} ms, mean {sem['mean_ms']:.1f} ms per question asked; "
              f"{sem['mean_ms_per_question']:.2f} ms per question on average")
    else:
        print("semantic layer: not installed (pip install -e '.[semantic]') or switched off")
    c = report.get("cold_ask")
    if c:
        ok = lambda flag: "ok" if flag else "OVER"  # noqa: E731
        print(f"cold `{c['command']}` ({c['runs']} runs): median {c['median_s']:.2f} s, "
              f"max {c['max_s']:.2f} s (target < {TARGET_SECONDS:g} s: {ok(c['max_s'] < TARGET_SECONDS)}); "
              f"peak RSS {c['peak_rss_mib']:.0f} MiB (target < {TARGET_MB} MB: "
              f"{ok(c['peak_rss_mib'] < TARGET_MB)}); answered topic {c['topic']}")
    m = report["machine"]
    print(f"{report['date']} · {m['nproc']} × {m['cpu']} · Python {m['python']}")


def main() -> int:
    """Run every benchmark, print the table, optionally write bench/results/matcher.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help=f"also write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed work per system (default 2)")
    parser.add_argument("--runs", type=int, default=10, help="cold `jiuzhu ask` runs (default 10)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold `jiuzhu ask` runs")
    args = parser.parse_args()

    os.chdir(ROOT)  # Runtime.from_path(None) reads ./config.toml
    sys.path.insert(0, str(ROOT))
    from bot.runtime import Runtime

    files = load_questions()
    if not files:
        print("no question files found", file=sys.stderr)
        return 2
    rt = Runtime.from_path(None)
    rt.matcher  # noqa: B018 — build or load the index before anything is timed
    plain = Runtime(dataclasses.replace(rt.config, matching=dataclasses.replace(rt.config.matching,
                                                                               semantic=False)), kb=rt.kb)
    systems = {"jiuzhu": lambda q: plain.answer(q, "wechat").topic,
               "jiuzhu_ranked": jiuzhu_ranked(rt),
               "baseline": Bm25Baseline(rt.kb.entries).predict,
               "baseline_phrasings": Bm25PhrasingBaseline(rt.kb.entries).predict}
    if rt.matcher.semantic is not None:
        systems["jiuzhu_semantic"] = lambda q: rt.answer(q, "wechat").topic

    everything = [row for rows in files.values() for row in rows]
    if len(files) > 1:
        files["all"] = everything
    report = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": machine(), "knowledge_entries": len(rt.kb.entries), "files": {}}
    for name, rows in files.items():  # the accuracy pass doubles as the warm-up pass
        entry = score(systems, rows)
        styles = sorted({r["style"] for r in rows if r["style"]})
        if styles and name != "all":
            entry["by_style"] = {st: score(systems, [r for r in rows if r["style"] == st])
                                 for st in styles}
        report["files"][name] = entry

    questions = [row["q"] for row in everything]
    speed = throughput({s: predict for s, predict in systems.items() if s not in ("jiuzhu_ranked", "jiuzhu_semantic")},
                       questions, args.seconds)
    speed["ratio"] = speed["jiuzhu"]["qps"] / speed["baseline"]["qps"]
    speed["ratio_phrasings"] = speed["jiuzhu"]["qps"] / speed["baseline_phrasings"]["qps"]
    report["speed"] = speed
    report["semantic"] = semantic_cost(rt, questions)
    if not args.no_cold:
        report["cold_ask"] = cold_ask(args.runs)

    print_table(report)
    if args.json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
