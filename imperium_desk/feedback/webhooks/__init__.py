"""Signed webhooks (DESIGN.md §6): the desk's telemetry pushed to subscribers from a durable SQLite outbox.

`service.WebhookService` is what the desk owns; `config.WebhooksConfig` is the `feedback.webhooks` section. The
parts: `signing` (Standard Webhooks headers), `allowlist` (subscriber URLs), `outbox` (the SQLite store), `feeder`
(telemetry into the outbox, gap-free), `outbox_thread` (the only thread touching the database), `dispatcher` (one
delivery in flight per subscriber, retries, dead letters), `retry` (backoff, Retry-After), `source` (reading the
JSONL log back). Importing this package (the config does) pulls in no HTTP client.
"""
