"""`jiuzhu kb check`: validate the knowledge base and build the matcher."""
from __future__ import annotations

import sys

from bot.errors import KnowledgeError
from bot.runtime import Runtime


def register(sub, common) -> None:
    """Add the `kb` command group."""
    kb = sub.add_parser("kb", help="knowledge-base tools")
    kb_sub = kb.add_subparsers(metavar="ACTION")
    check = kb_sub.add_parser("check", parents=[common], help="validate knowledge/ and build the index")
    check.set_defaults(func=run_check)
    register_flow(sub, common)


def run_check(args) -> int:
    """Print every problem with file and entry, or a summary when all is well."""
    runtime = Runtime.from_path(args.config)
    try:
        kb = runtime.kb
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"kb check: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    try:
        runtime.screener  # noqa: B018 — the flow, its messages, parsers and rules are validated too
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"kb check: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    report = runtime.matcher.report
    topics = {e.topic for e in kb.entries if e.topic}
    phrasings = sum(len(e.questions) for e in kb.entries)
    print(f"kb check: OK — {len(kb.entries)} entries, {len(topics)} topics, {phrasings} phrasings; "
          f"held-out phrasing top-1 {report['held_out_top1']:.1%}; screening flow "
          f"{len(runtime.screener.flow.slots)} slots")
    return 0


def register_flow(sub, common) -> None:
    """Add `jiuzhu flow diagram`."""
    flow = sub.add_parser("flow", help="screening flow tools")
    flow_sub = flow.add_subparsers(metavar="ACTION")
    diagram = flow_sub.add_parser("diagram", parents=[common],
                                  help="write docs/screening-flow.md from knowledge/screening/flow.yaml")
    diagram.add_argument("--check", action="store_true", help="fail if the committed diagram is stale")
    diagram.set_defaults(func=run_diagram)


def run_diagram(args) -> int:
    """Regenerate (or check) the flow diagram."""
    from bot.config import PROJECT_DIR
    from bot.screening.diagram import render_mermaid
    from bot.screening.flow import load_flow

    target = PROJECT_DIR / "docs" / "screening-flow.md"
    text = render_mermaid(load_flow())
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is out of date: run `jiuzhu flow diagram`", file=sys.stderr)
            return 1
        print("diagram up to date")
        return 0
    target.parent.mkdir(exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0
