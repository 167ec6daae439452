"""QA replay: recorded calls through the live phone pipeline on a virtual clock, scored, with a report.

inputs     caller audio from a WAV, a stereo recording, a call folder or a folder of them
clock      an event loop whose clock skips idle waits, so a call replays faster than real time
line       the Twilio side of the call: feeds the caller's audio, plays and records the bot's
expect     the expectations file (YAML) and the checks it asks for
score      scores computed from the conversation's trajectory
report     the per-call report (report.json) and the aggregate figures
html       report.html, self-contained
runner     one call end to end, and many calls with a progress bar and parallel jobs
command    the `frontdesk replay` command
"""

# The clock replaces time.time when imported (see voice.replay.clock): only replay's own entry
# points import it, so that a serving process keeps the plain clocks.
