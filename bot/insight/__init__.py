"""Insight: what residents ask, how far screenings get, what the outbox delivers — counted, never read.

    events.py     the vocabulary of an event and the recorder every hook calls (`runtime.insight`)
    screening.py  a screening's events, read from its state before and after a message
    rollup.py     insight_daily: closed days folded from the events; counts for the dashboard
    weekly.py     insight_weekly: each week counted by only the dimensions a view reads

An event holds a kind, a subject from a closed list (a topic id, a flow step, an
outbox kind), the channel, and when known the township, programme, age band and
campaign — never message text, never personal data, never a user id, and only the
day. A turn's events are written with the turn (bot/dialogue/turns.py); an outbox
or subscription event with its own change, in the same unit of work.
"""
