"""QA replay: recorded calls through the live phone pipeline on a virtual clock, scored, with a report.

inputs        caller audio from a WAV, a stereo recording, a call folder or a folder of them
clock         an event loop whose clock skips idle waits, so a call replays faster than real time
line          the Twilio side of the call: feeds the caller's audio, plays and records the bot's
speech_cache  the bot's synthesized sentences, kept for the next calls and runs
audio         what the caller sent and heard, written as WAVs next to the report
runtime       what a call runs on (back office, dialogue engine), as the caller of a replay supplies it
runner        one call end to end, and many calls in parallel jobs
html          report.html, self-contained
command       the `frontdesk replay` command (progress bar, report files, exit code)

Scoring, expectations and the report itself are `qa`'s: replay gathers a call's facts and hands them over.
"""

# The clock replaces time.time when imported (see replay.clock): only replay's own entry
# points import it, so that a serving process keeps the plain clocks.
