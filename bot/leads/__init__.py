"""The caseworker's lead service: scoped queue, one lead, claim/assign/transfer, status, contact, reveal.

    with runtime.db.unit_of_work() as session:
        service = LeadService(session, runtime, actor)
        page = service.queue(QueueFilter.from_args(request.args, townships))
"""
from bot.leads.queue import QueueFilter, QueuePage, QueueRow, scoped
from bot.leads.service import PURPOSES, LeadNotFound, LeadService, NotAllowed, Outcome, Revealed

__all__ = ["PURPOSES", "LeadNotFound", "LeadService", "NotAllowed", "Outcome", "QueueFilter", "QueuePage",
           "QueueRow", "Revealed", "scoped"]
