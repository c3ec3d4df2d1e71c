"""`jiuzhu ask`, `jiuzhu eval`: answer questions, measure answering."""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict

from bot.commands import print_json
from bot.domain import CHANNELS
from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add `ask` and `eval`."""
    ask = sub.add_parser("ask", parents=[common], help="answer one question (or a batch)")
    ask.add_argument("question", nargs="*", help="the question (omit with --batch)")
    ask.add_argument("--json", action="store_true", help="print the contract's JSON object")
    ask.add_argument("--channel", choices=CHANNELS, default="wechat")
    ask.add_argument("--batch", metavar="FILE", help="one question per line ('-' = standard input)")
    ask.set_defaults(func=run_ask)

    ev = sub.add_parser("eval", parents=[common], help="accuracy on a labelled JSONL file")
    ev.add_argument("file", help='JSONL lines {"q": …, "topic": … or null}')
    ev.add_argument("--channel", choices=CHANNELS, default="wechat")
    ev.add_argument("--show", type=int, default=30, help="confusions to list (default 30)")
    ev.set_defaults(func=run_eval)


def run_ask(args) -> int:
    """Answer the question(s); JSON lines with --json, else the reply text."""
    runtime = Runtime.from_path(args.config)
    if args.batch:
        stream = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")
        with stream:
            for line in stream:
                _print_answer(runtime.answer(line.rstrip("\r\n"), args.channel), args.json)
        return 0
    if not args.question:
        print("jiuzhu ask: give a question, or --batch FILE", file=sys.stderr)
        return 2
    _print_answer(runtime.answer(" ".join(args.question), args.channel), args.json)
    return 0


def _print_answer(answer, as_json: bool) -> None:
    if as_json:
        print_json(answer.as_json())
    else:
        print(answer.text + "\n", flush=True)


def run_eval(args) -> int:
    """Top-1 accuracy in scope, rejection out of scope, by topic, confusions, must-mention."""
    runtime = Runtime.from_path(args.config)
    kb = runtime.kb
    rows = []
    with open(args.file, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    print(f"jiuzhu eval: {args.file}:{n}: not JSON", file=sys.stderr)
                    return 2
    by_topic: dict[str, Counter] = defaultdict(Counter)
    confusions = []
    in_right = in_total = out_right = out_total = top3 = mention_ok = in_wrong = 0
    for row in rows:
        expected = row.get("topic")
        answer = runtime.answer(row["q"], args.channel)
        got = answer.topic
        offered = [got] + [a["topic"] for a in answer.as_json()["alternatives"]]
        if expected is None:
            out_total += 1
            out_right += got is None
            if got is not None:
                confusions.append((row["q"], expected, got, answer.confidence))
            continue
        in_total += 1
        by_topic[expected]["total"] += 1
        top3 += expected in offered[:3]
        if got == expected:
            in_right += 1
            by_topic[expected]["right"] += 1
            groups = kb.topics[expected].must_mention
            mention_ok += all(any(s in answer.text for s in g) for g in groups)
        else:
            in_wrong += got is not None  # answered, with another topic: the harmful miss
            confusions.append((row["q"], expected, got, answer.confidence))

    print("by topic:")
    for topic in sorted(by_topic):
        c = by_topic[topic]
        print(f"  {topic:32s} {c['right']}/{c['total']}")
    print(f"confusions ({len(confusions)}):")
    for q, exp, got, conf in confusions[: args.show]:
        print(f"  {exp or 'null'} → {got or 'null'} ({conf:.2f}): {q}")
    pct = lambda a, b: f"{(a / b if b else 0):.1%} ({a}/{b})"  # noqa: E731
    print(f"top-3 (answer or offered choices): {pct(top3, in_total)}")
    print(f"in scope answered with a wrong topic: {pct(in_wrong, in_total)}")
    print(f"must-mention facts in correct answers: {pct(mention_ok, in_right)}")
    print(f"eval: in-scope top-1 {pct(in_right, in_total)}, out-of-scope rejected "
          f"{pct(out_right, out_total)}, {len(rows)} questions")
    return 0
