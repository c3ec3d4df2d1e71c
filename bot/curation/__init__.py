"""Knowledge curation: the unanswered-question queue, reviewed changes to the knowledge base, and
keeping every running process on the published knowledge.

- groups.py    unanswered questions in groups of similar ones, with a status and a note
- drafts.py    a change as written on the form → its payload (phrasing, synonym, entry)
- changes.py   draft → check → approve by a second account → publish → revert, audited
- checks.py    the check before publishing: validation and the evaluation sets, before and after
- overlay.py   published changes applied to the knowledge/ files' documents as they are read
- live.py      the live knowledge base, and the watcher thread that swaps in a new version
- figures.py   county figures each entry quotes; entries flagged when config.toml changes one
"""
