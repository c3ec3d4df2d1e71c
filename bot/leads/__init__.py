"""Leads for the caseworker workbench: the queue and lead service, print and export."""
