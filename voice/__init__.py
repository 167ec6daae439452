"""Phone calls: Twilio webhooks and Media Streams, the real-time speech pipeline, and a Media Streams client.

`voice.routes.build_router(dialogue, config)` is what the application mounts; `voice.dial` is the
client that calls it the way Twilio would. The channel reaches the conversation only through
`dialogue.api`.
"""
