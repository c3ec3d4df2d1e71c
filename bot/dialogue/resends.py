"""A message sent again after an outage apology is the same message, not a new answer.

When the database drops while a turn's last write is in flight, the turn cannot
know whether the write landed (the server may have committed before the
connection broke). The resident gets the outage apology ("请过一会儿再发一次")
and does what it says: sends the same words again, as a new message. If the
first write had landed, that resend would be read as the answer to the *next*
question — "1" to confirm the application becoming "1, yes, notify me", "3" for
the household size becoming three 万元 of savings: a fact the resident never
stated.

So the pipeline remembers which message it apologised for (here: in Redis,
shared by every worker, for a quarter of an hour; in this process while Redis
is away), and every turn that changes a conversation stamps it with its message
id and a keyed fingerprint of its text (`LastChange`). A message whose text has
the stamp's fingerprint, from a resident whose stamped message was apologised
for, is that message again: it gets the reply kept for the first, and changes
nothing. Any other message — "没有" to two questions in a row included — is
worked out as usual, because no apology stands between them.
"""
from __future__ import annotations

import threading
import time

from bot.dialogue.state import LastChange
from bot.dialogue.turn_sql import CLAIM_ROW, CLAIM_WITH_REPLY, LATE, STORE_REPLY, Link
from bot.storage.models import utcnow

REMEMBER_SECONDS = 15 * 60   # long enough for a resident to try again, short enough to forget
LOCAL_LIMIT = 10_000         # apologies remembered in one process while Redis is away
PREFIX = "jiuzhu:apologised:"


class ApologisedMessages:
    """Which message each resident last got an outage apology for.

    `client` is the Redis client the rate limiter uses (None: this process only) and
    `health` its RedisHealth, so an outage is logged and shown in /healthz once.
    """

    def __init__(self, client=None, health=None, clock=time.monotonic):
        self.client, self.health, self.clock = client, health, clock
        self._local: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def note(self, channel: str, user_key: str, message_id: str) -> None:
        """`message_id` got an apology although its turn may have been written."""
        name = f"{PREFIX}{channel}:{user_key}"
        if self._shared():
            try:
                self.client.set(name, message_id, ex=REMEMBER_SECONDS)
                self.health.answered()
                return
            except Exception as error:  # noqa: BLE001 — Redis away: remember it here instead
                self.health.failed(error)
        with self._lock:
            if len(self._local) >= LOCAL_LIMIT:
                self._local.pop(next(iter(self._local)))
            self._local[name] = (message_id, self.clock() + REMEMBER_SECONDS)

    def take(self, channel: str, user_key: str) -> str | None:
        """The message id apologised for (forgotten now), or None."""
        name = f"{PREFIX}{channel}:{user_key}"
        with self._lock:
            local = self._local.pop(name, None)
        if local is not None and local[1] >= self.clock():
            return local[0]
        if self._shared():
            try:
                value = self.client.getdel(name)
                self.health.answered()
            except Exception as error:  # noqa: BLE001 — Redis away: nothing is known
                self.health.failed(error)
                return None
            return value.decode() if isinstance(value, bytes) else value
        return None

    def _shared(self) -> bool:
        return self.client is not None and self.health is not None and self.health.worth_trying()


def kept_reply_if_resent(link: Link, channel: str, user_key: str, last: LastChange,
                         apologised: ApologisedMessages) -> dict | None:
    """The reply kept for `last` (whose text this message repeats) if `last` got an outage
    apology after its turn was written; else None: the message is worked out as usual."""
    if apologised.take(channel, user_key) != last.message:
        return None
    with link.autocommit() as tx:
        row = tx.first(CLAIM_ROW, {"channel": channel, "message_id": last.message})
    kept = tx.from_json(row[0]) if row is not None else None
    return kept if isinstance(kept, dict) and kept != LATE else None


def claim_with(link: Link, channel: str, message_id: str, kept: dict, owner: str | None) -> bool:
    """Claim `message_id` (or store into our leased claim) with another message's kept reply;
    False if another delivery of it got there first."""
    with link.transaction() as tx:
        params = {"channel": channel, "message_id": message_id, "owner": owner,
                  "reply": tx.json(kept), "now": tx.time(utcnow())}
        return tx.run(CLAIM_WITH_REPLY if owner is None else STORE_REPLY, params) == 1
