"""Vendor webhooks in: signatures verified, payloads normalized to events, subscriptions
registered at the vendor and removed again."""
