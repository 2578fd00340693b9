"""Outbound webhooks: subscribers, a durable delivery queue, signed POSTs with retries, a log."""
