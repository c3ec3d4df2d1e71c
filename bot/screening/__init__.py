"""Guided pre-screening: flows as data, answer parsers, eligibility rules, draft applications."""
