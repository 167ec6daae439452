"""The agent desk: people taking part in conversations from any channel. The hand-off queue with its
structured summaries, taking a conversation over and replying as a person, handing back, closing,
approving or denying queued actions, and the consoles that watch all of it (`/agent`, `/agent/ws`,
`/agent/api/...`).

It sits below the channels and above the dialogue (`frontdesk -> chat, voice -> desk -> dialogue`):
a channel is built over an `AgentDesk` and tells it what its customer says while a person has the
conversation; the desk imports no channel. `desk.web` holds the web plumbing channels share.
`desk.routes.build_router(engine, config)` gives the FastAPI router.
"""
