"""QA: what judges a conversation, whatever channel it came through.

expect     the expectations file (YAML) and the checks it asks for
score      scores computed from the conversation's trajectory
report     the per-call report (report.json) and the aggregate figures

It knows the dialogue's results and the back office, never a channel: a channel (or a replay of
one) gathers the facts and hands them here.
"""
