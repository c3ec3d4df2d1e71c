"""Load and validate the knowledge base in knowledge/ (FAQ, messages, lexicon).

`load_knowledge` checks everything a resident could trip over — unknown topic,
duplicate id, missing field, placeholder without a config value, SMS answer
too long, an answer missing its topic's must-mention facts — and raises one
KnowledgeError listing every problem with its file and entry.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.config import Config
from bot.errors import KnowledgeError
from bot.domain import CHANNELS
from bot.placeholders import COUNTY_FIGURES, base_values
from knowledge import KNOWLEDGE_DIR

SMS_MAX_CHARS = 134  # two concatenated UCS-2 segments
ENTRY_FIELDS = {"id", "topic", "title", "questions", "keywords", "answer", "sms", "source", "checked"}
DECLINE_OPTIONAL = {"source", "checked"}
REQUIRED_MESSAGES = (
    "standards_note_unverified", "bureau_contact_verified", "bureau_contact_unverified",
    "dont_know", "did_you_mean", "choice_line", "choice_out_of_range", "empty_message",
    "message_trimmed", "generic_apology", "decline_default",
    "leave_message_prompt", "leave_message_saved", "leave_message_cancelled", "rate_limited",
    "notices_on", "notices_off",
    "sms_more_suffix", "sms_no_more", "sms_stop_confirm", "sms_start_confirm", "sms_help",
    "media_not_supported_sms",
)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Topic:
    """One taxonomy topic (knowledge/topics.yaml)."""

    id: str
    kind: str
    title: str
    must_mention: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Entry:
    """One FAQ entry, with its answer already filled in for every channel."""

    id: str
    topic: str | None
    kind: str  # faq, intent, referral, or decline (out of scope)
    title: str
    questions: tuple[str, ...]
    keywords: tuple[str, ...]
    answers: dict[str, str] = field(repr=False)  # channel → full reply text
    sms: str = field(repr=False, default="")
    source: str = ""
    checked: dt.date | None = None
    file: str = ""
    quotes: frozenset[str] = frozenset()  # the placeholders its answer and sms use (config figures)

    def answer_for(self, channel: str) -> str:
        """The reply text as the given channel sends it."""
        return self.answers.get(channel) or self.answers["wechat"]


@dataclass(frozen=True)
class KnowledgeBase:
    """The validated knowledge base, ready to match and answer."""

    topics: dict[str, Topic]
    entries: tuple[Entry, ...]
    messages: dict[str, dict[str, str]]  # key → channel → text (config values filled)
    synonyms: dict[str, str]             # colloquial variant → canonical term
    terms: tuple[tuple[str, int], ...]   # extra jieba dictionary words
    fingerprint: str                     # changes whenever any input changes
    commands: dict[str, frozenset[str]] = field(default_factory=dict)  # command → its words
    context: dict = field(default_factory=dict)  # lexicon/context.yaml: wrappers, apply wishes, follow-ups

    def entry(self, entry_id: str) -> Entry:
        """The entry with this id (KeyError if there is none)."""
        return self._by_id[entry_id]

    def has_entry(self, entry_id: str) -> bool:
        """Whether an entry with this id exists (an offer may outlive a KB update)."""
        return entry_id in self._by_id

    def message(self, key: str, channel: str = "wechat", **runtime: Any) -> str:
        """One of the bot's own sentences, with runtime values filled in."""
        text = self.messages[key].get(channel) or self.messages[key]["wechat"]
        return text.format(**runtime)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {e.id: e for e in self.entries})


def load_knowledge(config: Config, directory: Path | None = None, overlay=None) -> KnowledgeBase:
    """Read every file of the knowledge base, validate it and fill in config values.

    `overlay` (bot.curation.overlay.Overlay): the reviewed changes published in the workbench,
    applied to the files' documents as they are read, then validated with them.
    """
    directory = Path(directory or KNOWLEDGE_DIR)
    problems: list[str] = []
    digest = hashlib.sha256()
    base = base_values(config)
    digest.update(repr(sorted(base.items())).encode())
    if overlay is not None:
        digest.update(overlay.digest())
    digest.update(repr(config.county.standards.verified).encode())
    digest.update(repr(config.county.hotlines.bureau_verified).encode())

    def read(rel: str) -> Any:
        path = directory / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(f"{rel}: cannot read ({exc.strerror})")
            return None
        digest.update(rel.encode() + b"\0" + data)
        try:
            doc = yaml.load(data, Loader=_Loader)
            return overlay.patch(rel, doc) if overlay is not None else doc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            problems.append(f"{rel}:{where} not valid YAML ({getattr(exc, 'problem', exc)})")
            return None

    topics = _read_topics(read("topics.yaml"), problems)
    raw_messages = read("messages.yaml") or {}
    messages, values = _read_messages(raw_messages, base, config, problems)
    synonyms = _read_synonyms(read("lexicon/synonyms.yaml"), problems)
    commands = _read_commands(read("commands.yaml"), problems)
    terms = _read_terms(directory / "lexicon/terms.txt", digest, problems)
    context = _read_context(read("lexicon/context.yaml"), topics, problems)

    entries: list[Entry] = []
    seen: dict[str, str] = {}
    documents = ((f"faq/{path.name}", read(f"faq/{path.name}"))
                 for path in sorted((directory / "faq").glob("*.yaml")))
    curated = overlay.documents() if overlay is not None else ()
    for rel, doc in (*documents, *curated):
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
            problems.append(f"{rel}: must be a mapping with an 'entries' list")
            continue
        for i, raw in enumerate(doc["entries"], 1):
            entry = _read_entry(raw, rel, i, topics, values, problems)
            if entry is None:
                continue
            if entry.id in seen:
                problems.append(f"{rel}: entry {entry.id}: duplicate id (also in {seen[entry.id]})")
                continue
            seen[entry.id] = rel
            entries.append(entry)

    _check_coverage(topics, entries, problems)
    _check_question_clashes(entries, problems)
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(topics=topics, entries=tuple(entries), messages=messages,
                         synonyms=synonyms, terms=terms, fingerprint=digest.hexdigest()[:16],
                         commands=commands, context=context)


def _read_topics(doc: Any, problems: list[str]) -> dict[str, Topic]:
    topics: dict[str, Topic] = {}
    for raw in (doc or {}).get("topics", []) if isinstance(doc, dict) else []:
        groups = tuple(tuple(str(s) for s in g) for g in raw.get("must_mention") or [])
        topics[raw["id"]] = Topic(raw["id"], raw.get("kind", "faq"), raw.get("title", ""), groups)
    if not topics:
        problems.append("topics.yaml: no topics")
    return topics


def _read_messages(doc: Any, base: dict[str, str], config: Config,
                   problems: list[str]) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Messages per channel, and the placeholder values per channel they imply."""
    if not isinstance(doc, dict):
        problems.append("messages.yaml: must be a mapping")
        doc = {}
    for key in REQUIRED_MESSAGES:
        if key not in doc:
            problems.append(f"messages.yaml: missing message {key!r}")
    per_channel = {key: _channel_texts(doc.get(key, ""), f"messages.yaml: {key}", problems)
                   for key in doc}
    values: dict[str, dict[str, str]] = {}
    for channel in CHANNELS:
        v = dict(base)
        contact_key = ("bureau_contact_verified" if config.county.hotlines.bureau_verified
                       else "bureau_contact_unverified")
        v["bureau_contact"] = _fill(per_channel.get(contact_key, {}).get(channel, ""), base)
        v["standards_note"] = ("" if config.county.standards.verified else
                               _fill(per_channel.get("standards_note_unverified", {}).get(channel, ""), v))
        values[channel] = v
    messages = {key: {ch: _fill(texts[ch], values[ch], keep_unknown=True,
                                where=f"messages.yaml: {key}", problems=problems)
                      for ch in CHANNELS}
                for key, texts in per_channel.items()}
    return messages, values


def _channel_texts(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    if isinstance(value, str):
        return {ch: value for ch in CHANNELS}
    if isinstance(value, dict) and all(isinstance(value.get(ch), str) for ch in CHANNELS):
        return {ch: value[ch] for ch in CHANNELS}
    problems.append(f"{where}: must be a text or a mapping with {' and '.join(CHANNELS)} texts")
    return {ch: "" for ch in CHANNELS}


def _read_commands(doc: Any, problems: list[str]) -> dict[str, frozenset[str]]:
    if not isinstance(doc, dict) or not all(isinstance(v, list) for v in doc.values()):
        problems.append("commands.yaml: must map a command name to a list of words")
        return {}
    return {name: frozenset(str(w).strip().lower() for w in words) for name, words in doc.items()}


def _read_synonyms(doc: Any, problems: list[str]) -> dict[str, str]:
    """synonyms.yaml maps canonical → [variants]; return variant → canonical."""
    out: dict[str, str] = {}
    if not isinstance(doc, dict):
        problems.append("lexicon/synonyms.yaml: must map a canonical term to a list of variants")
        return out
    for canonical, variants in doc.items():
        if not isinstance(variants, list):
            problems.append(f"lexicon/synonyms.yaml: {canonical}: variants must be a list")
            continue
        for variant in variants:
            variant = str(variant)
            if variant in out and out[variant] != canonical:
                problems.append(f"lexicon/synonyms.yaml: {variant!r} maps to both "
                                f"{out[variant]!r} and {canonical!r}")
            out[variant] = str(canonical)
    return out


def _read_context(doc: Any, topics: dict[str, Topic], problems: list[str]) -> dict:
    """lexicon/context.yaml: the word lists of bot/matching/context.py, checked for shape."""
    from bot.matching.context import spec_problems

    problems.extend(f"lexicon/context.yaml: {p}" for p in spec_problems(doc, set(topics)))
    return doc if isinstance(doc, dict) else {}


def _read_terms(path: Path, digest: Any, problems: list[str]) -> tuple[tuple[str, int], ...]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(f"lexicon/terms.txt: cannot read ({exc.strerror})")
        return ()
    digest.update(b"terms\0" + data)
    terms = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            problems.append(f"lexicon/terms.txt: line {n}: expected 'word [frequency]'")
            continue
        terms.append((parts[0], int(parts[1]) if len(parts) == 2 else 2000))
    return tuple(terms)


def _read_entry(raw: Any, rel: str, index: int, topics: dict[str, Topic],
                values: dict[str, dict[str, str]], problems: list[str]) -> Entry | None:
    if not isinstance(raw, dict):
        problems.append(f"{rel}: entry #{index}: not a mapping")
        return None
    where = f"{rel}: entry {raw.get('id') or '#' + str(index)}"
    before = len(problems)
    topic_id = raw.get("topic")
    decline = topic_id is None
    required = ENTRY_FIELDS - (DECLINE_OPTIONAL if decline else set())
    for name in sorted(required - raw.keys()):
        problems.append(f"{where}: missing field {name!r}")
    for name in sorted(raw.keys() - ENTRY_FIELDS):
        problems.append(f"{where}: unknown field {name!r}")
    if len(problems) > before:
        return None
    if not decline and topic_id not in topics:
        problems.append(f"{where}: unknown topic {topic_id!r}")
        return None
    questions = _string_list(raw["questions"], f"{where}: questions", problems, minimum=3)
    keywords = _string_list(raw["keywords"] or [], f"{where}: keywords", problems, minimum=0)
    for name in ("id", "title", "answer", "sms"):
        if not isinstance(raw[name], str) or not raw[name].strip():
            problems.append(f"{where}: {name} must be a non-empty text")
    checked = raw.get("checked")
    if not decline and not isinstance(checked, dt.date):
        problems.append(f"{where}: checked must be a date (YYYY-MM-DD)")
    if len(problems) > before:
        return None

    answers, quotes = {}, _placeholders(raw["answer"]) | _placeholders(raw["sms"])
    for channel in CHANNELS:
        template = raw["sms"] if channel == "sms" else raw["answer"]
        _check_figures_noted(template, f"{where}: {'sms' if channel == 'sms' else 'answer'}", problems)
        answers[channel] = _fill(template.strip(), values[channel], where=where, problems=problems)
    if len(answers["sms"]) > SMS_MAX_CHARS:
        problems.append(f"{where}: sms is {len(answers['sms'])} characters after filling "
                        f"placeholders; the limit is {SMS_MAX_CHARS}")
    kind = "decline" if decline else topics[topic_id].kind
    if not decline:
        for group in topics[topic_id].must_mention:
            if not any(s in answers["wechat"] for s in group):
                problems.append(f"{where}: answer must mention one of {'/'.join(group)} "
                                f"(topic {topic_id})")
    if len(problems) > before:
        return None
    return Entry(id=raw["id"], topic=topic_id, kind=kind, title=raw["title"].strip(),
                 questions=questions, keywords=keywords, answers=answers, sms=answers["sms"],
                 source=str(raw.get("source") or ""), checked=checked, file=rel, quotes=frozenset(quotes))


def _string_list(value: Any, where: str, problems: list[str], minimum: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        problems.append(f"{where}: must be a list of texts")
        return ()
    items = tuple(str(v).strip() for v in value if str(v).strip())
    if len(items) < minimum:
        problems.append(f"{where}: needs at least {minimum}")
    return items


def _placeholders(template: str) -> set[str]:
    """The {names} a text uses (none for bad braces: _fill reports those)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return set()


def _check_figures_noted(template: str, where: str, problems: list[str]) -> None:
    names = _placeholders(template)
    if names & COUNTY_FIGURES and "standards_note" not in names:
        problems.append(f"{where}: quotes a county figure without {{standards_note}}")


def _fill(template: str, values: dict[str, str], keep_unknown: bool = False,
          where: str = "", problems: list[str] | None = None) -> str:
    """Fill {placeholders}; unknown ones are a problem, or kept for runtime filling."""
    out = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        if problems is not None:
            problems.append(f"{where}: bad braces ({exc}); write {{{{ for a literal brace")
        return template
    for literal, name, spec, conv in parsed:
        out.append(literal.replace("{", "{{").replace("}", "}}") if keep_unknown else literal)
        if name is None:
            continue
        if name in values:
            out.append(values[name].replace("{", "{{").replace("}", "}}") if keep_unknown else values[name])
        elif keep_unknown:
            out.append("{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}")
        elif problems is not None:
            problems.append(f"{where}: placeholder {{{name}}} has no config value")
    return "".join(out)


def _check_coverage(topics: dict[str, Topic], entries: list[Entry], problems: list[str]) -> None:
    covered = {e.topic for e in entries}
    for topic_id in topics:
        if topic_id not in covered:
            problems.append(f"topics.yaml: topic {topic_id} has no entry in faq/")


def _check_question_clashes(entries: list[Entry], problems: list[str]) -> None:
    """The same phrasing under two topics would teach the matcher a coin toss."""
    owner: dict[str, Entry] = {}
    for entry in entries:
        for q in entry.questions:
            other = owner.setdefault(q, entry)
            if other.topic != entry.topic:
                problems.append(f"{entry.file}: entry {entry.id}: question {q!r} is also under "
                                f"{other.id} ({other.topic})")
