"""The channel-agnostic brain: understanding, workflow state, policy and decisioning, responses.

Deterministic and free of network and audio; it reaches the back office only through governed tools.
"""
