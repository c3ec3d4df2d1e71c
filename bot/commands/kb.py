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
    report = runtime.matcher.report
    topics = {e.topic for e in kb.entries if e.topic}
    phrasings = sum(len(e.questions) for e in kb.entries)
    print(f"kb check: OK — {len(kb.entries)} entries, {len(topics)} topics, {phrasings} phrasings; "
          f"held-out phrasing top-1 {report['held_out_top1']:.1%}")
    return 0
