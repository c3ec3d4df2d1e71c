"""`jiuzhu kb check` (validate the knowledge base, build the matcher) and `jiuzhu kb curated`
(the knowledge changes published in the workbench that are live now)."""
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
    curated = kb_sub.add_parser("curated", parents=[common],
                                help="the knowledge changes published in the workbench and live now")
    curated.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    curated.set_defaults(func=run_curated)
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


def run_curated(args) -> int:
    """List the published changes live at the database's knowledge version, oldest first."""
    import json

    from sqlalchemy import select

    from bot.curation.live import published_at
    from bot.storage.models import KnowledgeChange

    runtime = Runtime.from_path(args.config)
    with runtime.db.unit_of_work() as session:
        version, changes = published_at(session)
        rows = {r.id: r for r in session.scalars(
            select(KnowledgeChange).where(KnowledgeChange.id.in_([c.id for c in changes])))}
        listed = [_curated_row(rows[c.id]) for c in changes]
    if args.json:
        print(json.dumps({"version": version, "changes": listed}, ensure_ascii=False, indent=2))
        return 0
    if not listed:
        print(f"knowledge version {version}: no published changes live (the files alone)")
        return 0
    for r in listed:
        print(f"#{r['id']:<5} {r['kind']:9} {r['target']}  by {r['author']}, reviewed by {r['reviewer']}, "
              f"published {r['published_at'] or '?'} (version {r['version']})")
    print(f"knowledge version {version}: {len(listed)} published change(s) live")
    return 0


def _curated_row(row) -> dict:
    """One live change as listed: which entry (or lexicon word) it changes, who and when."""
    payload = row.payload or {}
    target = payload.get("entry_id") or payload.get("id") or payload.get("canonical") or ""
    return {"id": row.id, "kind": row.kind, "target": target, "author": row.author, "reviewer": row.reviewer,
            "published_at": row.reviewed_at.isoformat(timespec="seconds") if row.reviewed_at else None,
            "version": row.published_version}


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
