"""Eventing: change events from polling and vendor webhooks, delivered as signed CloudEvents."""
