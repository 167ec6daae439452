"""The website chat channel: the customer WebSocket and REST protocol, the embeddable widget and the agent console.

`chat.routes.build_router(engine, config)` gives the FastAPI router; everything else in this
package sits behind it and reaches the dialogue only through `DialogueEngine`.
"""
