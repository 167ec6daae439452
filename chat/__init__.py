"""The website chat channel: the customer WebSocket and REST protocol and the embeddable widget.

`chat.routes.build_router(engine, config, desk)` gives the FastAPI router; everything else in this
package sits behind it and reaches the dialogue only through `DialogueEngine`. People taking part
(the hand-off queue, the agent console) are the agent desk's (`desk`), which the chat is built over.
"""
