"""A broadcast recipient's route, and the outbox statuses of the rows the per-message worker leaves alone.

    wechat_cs        customer-service message (客服消息), within 48 h of the resident's last message
    wechat_mass      群发 by OpenID list: many followers in one WeChat call, at most 4 a month each
    wechat_template  模板消息 of config.toml's notice template, outside the 48 h once 群发 is used up
    sms              an SMS to a number whose opt-in was confirmed

Customer-service and SMS rows are plain `queued` outbox rows: `jiuzhu worker` sends them one by
one. 群发 rows are queued as `mass_queued`, template rows as `template_queued`, which the outbox
never claims: the WeChat sender's batch step (handlers/wechat_mass.py) claims them by campaign,
because one 群发 call carries up to 10,000 of them and a template needs the broadcast's title.
The route is in the status itself so that claiming needs no join to broadcast_recipients
(the outbox's (status, next_attempt_at) index finds them, however large the broadcast).
"""
from __future__ import annotations

CS, MASS, TEMPLATE, SMS = "wechat_cs", "wechat_mass", "wechat_template", "sms"
MASS_QUEUED, TEMPLATE_QUEUED = "mass_queued", "template_queued"   # outbox statuses: handlers/wechat_mass.py
QUEUED_BY_ROUTE = {MASS: MASS_QUEUED, TEMPLATE: TEMPLATE_QUEUED}
BATCHED_STATUSES = tuple(QUEUED_BY_ROUTE.values())


def queued_status(route: str) -> str:
    """The outbox status a newly planned (or retried) row of this route waits in."""
    return QUEUED_BY_ROUTE.get(route, "queued")
