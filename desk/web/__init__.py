"""Web plumbing that every channel's routes and the agent desk share: the settings they have in common,
origin and client-address checks, the per-socket outbox, rate limits, the JSON REST conventions (strict
JSON bodies, one error shape) and the static pages' serving."""
