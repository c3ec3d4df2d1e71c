"""Queueing an approved broadcast's recipients set-based: a county's 100,000 subscribers in seconds.

Multi-row INSERT … ON CONFLICT DO NOTHING … RETURNING statements into the outbox, then
multi-row INSERTs of their broadcast_recipients rows, instead of two statements per
recipient (bench/bench_broadcast.py measures both against a bare INSERT … SELECT). The
rows are the ones `bot.outbox.enqueue` writes; the idempotency key per recipient and the
unique (broadcast, channel, recipient) row still make a second plan send nobody anything
twice. 群发 and template rows start as `mass_queued` / `template_queued` (bot/publicity/routes.py).
Each channel's text is encrypted once: every recipient of a broadcast reads the
same notice, so nothing is learnt from equal ciphertexts that the notice does not say.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.publicity.routes import queued_status
from bot.storage.models import BroadcastRecipient, OutboxMessage

BATCH = 2000  # rows per statement: well under PostgreSQL's 65,535 bind parameters (13 a row)


def queue_recipients(session: Session, runtime, broadcast, planned: Iterable, texts: dict[str, str],
                     send_after: dict[str, dt.datetime], now: dt.datetime) -> int:
    """Queue every planned recipient (bot.publicity.broadcast.Planned) in batches; how many were new."""
    protector = runtime.protector
    bodies = {channel: protector.encrypt(text) for channel, text in texts.items()}
    if session.get_bind().dialect.name == "postgresql":
        return _copy_all(session, protector, broadcast, list(planned), bodies, send_after, now)
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    queued, batch = 0, []
    for person in planned:
        batch.append(person)
        if len(batch) == BATCH:
            queued += _queue_batch(session, protector, broadcast, batch, bodies, send_after, now, dialect_insert)
            batch = []
    if batch:
        queued += _queue_batch(session, protector, broadcast, batch, bodies, send_after, now, dialect_insert)
    return queued


_OUTBOX_COLUMNS = ("channel", "recipient_key", "recipient_ref", "body", "status", "attempts", "next_attempt_at",
                   "kind", "campaign_id", "idempotency_key", "created_at", "updated_at")
_RECIPIENT_COLUMNS = ("broadcast_id", "channel", "route", "recipient_key", "township", "planned_at", "outbox_id")


def _outbox_row(protector, broadcast, person, bodies, send_after, now) -> tuple:
    """The row `enqueue` would write. The subscription's ciphertext is the address the outbox
    needs (E.164 for SMS), so it is copied rather than decrypted and sealed again; a follower's
    subscription key is the conversation's user key, the outbox's recipient key."""
    key = protector.blind_index("outbox", f"broadcast:{broadcast.campaign_id}:{person.channel}:{person.recipient_key}")
    recipient_key = person.recipient_key if person.channel == "wechat" else \
        protector.blind_index("user:sms", protector.decrypt(person.recipient_ref))
    return (person.channel, recipient_key, bytes(person.recipient_ref), bodies[person.channel],
            queued_status(person.route), 0,
            send_after[person.channel], "broadcast", broadcast.campaign_id, key, now, now)


def _copy_all(session, protector, broadcast, planned, bodies, send_after, now) -> int:
    """PostgreSQL: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING.

    Binding 100,000 rows' parameters costs more in the driver than the insert in the server;
    COPY streams them. In the caller's transaction: all of it is queued, or none.
    """
    rows = [_outbox_row(protector, broadcast, person, bodies, send_after, now) for person in planned]
    cursor = session.connection().connection.driver_connection.cursor()
    columns = ", ".join(_OUTBOX_COLUMNS)
    cursor.execute("DROP TABLE IF EXISTS pg_temp.broadcast_plan")
    cursor.execute(f"CREATE TEMPORARY TABLE broadcast_plan ON COMMIT DROP AS SELECT {columns} FROM outbox WITH NO DATA")
    with cursor.copy(f"COPY broadcast_plan ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(f"INSERT INTO outbox ({columns}) SELECT {columns} FROM broadcast_plan "
                   "ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key, id")
    ids = dict(cursor.fetchall())
    queued = len(ids)
    missing = [row[9] for row in rows if row[9] not in ids]
    if missing:  # queued by an earlier, interrupted plan: link those rows
        cursor.execute("SELECT idempotency_key, id FROM outbox WHERE idempotency_key = ANY(%s)", (missing,))
        ids.update(cursor.fetchall())
    with cursor.copy(f"COPY broadcast_recipients ({', '.join(_RECIPIENT_COLUMNS)}) FROM STDIN") as copy:
        for person, row in zip(planned, rows):
            copy.write_row((broadcast.id, person.channel, person.route, person.recipient_key, person.township,
                            now, ids[row[9]]))
    return queued


def _queue_batch(session, protector, broadcast, batch, bodies, send_after, now, dialect_insert) -> int:
    rows, keys = [], []
    for person in batch:
        recipient = protector.decrypt(person.recipient_ref)
        key = protector.blind_index(
            "outbox", f"broadcast:{broadcast.campaign_id}:{person.channel}:{person.recipient_key}")
        keys.append(key)
        rows.append(dict(channel=person.channel, recipient_key=protector.blind_index(f"user:{person.channel}", recipient),
                         recipient_ref=protector.encrypt(recipient), body=bodies[person.channel],
                         status=queued_status(person.route),
                         attempts=0, next_attempt_at=send_after[person.channel], kind="broadcast",
                         campaign_id=broadcast.campaign_id, idempotency_key=key, created_at=now, updated_at=now))
    # Core executemany on the tables: SQLAlchemy's "insertmanyvalues" sends one multi-row
    # INSERT per 1,000 rows from a cached statement (the ORM's bulk path took a round trip per row).
    connection = session.connection()
    added = dict(connection.execute(
        dialect_insert(OutboxMessage.__table__).on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxMessage.idempotency_key, OutboxMessage.id), rows).all())
    missing = [key for key in keys if key not in added]
    existing = dict(session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.id)
                                    .where(OutboxMessage.idempotency_key.in_(missing))).all()) if missing else {}
    connection.execute(insert(BroadcastRecipient.__table__), [
        dict(broadcast_id=broadcast.id, channel=person.channel, route=person.route,
             recipient_key=person.recipient_key, township=person.township, planned_at=now,
             outbox_id=added.get(key) or existing[key]) for person, key in zip(batch, keys)])
    return len(added)
