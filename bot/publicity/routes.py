"""A broadcast recipient's route, and the outbox status of the rows the per-message worker leaves alone.

    wechat_cs        customer-service message (客服消息), within 48 h of the resident's last message
    wechat_mass      群发 by OpenID list: many followers in one WeChat call, at most 4 a month each
    wechat_template  模板消息 of config.toml's notice template, outside the 48 h once 群发 is used up
    sms              an SMS to a number whose opt-in was confirmed

Customer-service and SMS rows are plain `queued` outbox rows: `jiuzhu worker` sends them one by
one. 群发 and template rows are queued as `route_queued`, which the outbox never claims: the
WeChat sender's batch step (handlers/wechat_mass.py) claims them by campaign, because one 群发
call carries up to 10,000 of them and a template needs the broadcast's title.
"""
from __future__ import annotations

CS, MASS, TEMPLATE, SMS = "wechat_cs", "wechat_mass", "wechat_template", "sms"
ROUTE_QUEUED = "route_queued"            # outbox status: waiting for handlers/wechat_mass.py
BATCHED_ROUTES = (MASS, TEMPLATE)        # the routes whose rows are queued so


def queued_status(route: str) -> str:
    """The outbox status a newly planned row of this route starts in."""
    return ROUTE_QUEUED if route in BATCHED_ROUTES else "queued"
