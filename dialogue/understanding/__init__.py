"""Understanding: what the customer said, as typed data. It never decides what the business allows.

`models` is the contract. `builtin.BuiltinUnderstanding` is the offline implementation
(`language`, `normalize` and `numbers`, `intent`, `acts`, `entities/*`, `sentiment`, with the
per-language files under assets/nlu/); `llm.LLMUnderstanding` asks an OpenAI-compatible endpoint
and falls back to the built-in one; `factory.create_understander` picks between them;
`evaluate` measures and tunes the intent model. Nothing here knows a domain: `core` is what every
domain shares, and a domain's records, ids and requests come in as an `extensions.UnderstandingPack`
that the understanders are built with.
"""
