"""`report.html`: one self-contained page (inline CSS and JS, audio as data URIs) for a QA lead.

At the top, the aggregate table (containment, escalation reasons, partial failures, systems touched
per resolution, latency percentiles) and one row per call with its pass/fail badge. Below, each call:
what failed, audio players for the caller and the bot, a timeline of who spoke when (a click seeks
both players), the transcript with the workflow state and latency after each turn, the tool calls
with their verification, the hand-off summary and the scores.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from pathlib import Path
from typing import Any

from qa.report import Aggregate, CallReport, folder_name
from replay.audio import CallAudio
from replay.inputs import audio_data_uri

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9cedb}main{padding:20px 28px;max-width:1280px}
h2{font-size:18px;margin:28px 0 10px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;background:#fff;width:100%;margin:6px 0 14px}
th,td{border:1px solid #dde1e8;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:700;color:#fff}
.pass{background:#1f8a4c}.fail{background:#c62f2f}.warn{background:#b7791f}
section.call{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:14px 18px;margin:18px 0}
section.call>h2{margin-top:0}.muted{color:#6b7385}.failures{color:#c62f2f;margin:6px 0 10px}
.players{display:flex;gap:18px;flex-wrap:wrap;align-items:center}.players label{font-weight:600;margin-right:6px}
.timeline{position:relative;height:58px;background:#f0f2f6;border-radius:6px;margin:10px 0;cursor:pointer}
.lane{position:absolute;left:0;right:0;height:22px}.lane.caller{top:4px}.lane.bot{top:32px}
.seg{position:absolute;height:22px;border-radius:4px;opacity:.9}
.seg.caller{background:#3b6fd8}.seg.bot{background:#7d4cc2}.tick{position:absolute;top:0;bottom:0;width:2px}
.tick.clear{background:#e0861d}.tick.hang_up{background:#1d2330}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
tr.caller td.who{color:#3b6fd8;font-weight:600}tr.bot td.who{color:#7d4cc2;font-weight:600}
td.t{white-space:nowrap;color:#3b6fd8;cursor:pointer;text-decoration:underline dotted}
.interrupted{text-decoration:line-through;color:#8a90a0}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}pre{white-space:pre-wrap;margin:0}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
"""

_JS = """
function seek(callId, t){
  document.querySelectorAll('audio[data-call="'+callId+'"]').forEach(function(a){a.currentTime=t;});
  var first=document.querySelector('audio[data-call="'+callId+'"][data-side="bot"]'); if(first){first.play();}
}
document.addEventListener('click',function(e){
  var el=e.target.closest('[data-seek]');
  if(el){seek(el.getAttribute('data-call'),parseFloat(el.getAttribute('data-seek')));return;}
  var tl=e.target.closest('.timeline'); if(tl){var r=tl.getBoundingClientRect();
    seek(tl.getAttribute('data-call'),(e.clientX-r.left)/r.width*parseFloat(tl.getAttribute('data-length')));}
});
"""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def _badge(passed: bool, error: bool = False) -> str:
    if error:
        return '<span class="badge fail">ERROR</span>'
    return '<span class="badge pass">PASS</span>' if passed else '<span class="badge fail">FAIL</span>'


def _aggregate(summary: Aggregate) -> str:
    reasons = ", ".join(f"{escape(k)}: {v}" for k, v in summary.escalation_reasons.items()) or "none"
    outcomes = ", ".join(f"{escape(k)}: {v}" for k, v in summary.outcomes.items()) or "none"
    lat = summary.latency_ms
    speed = summary.call_s / summary.wall_s if summary.wall_s else 0.0
    rows = [
        ("calls passed", f"{summary.passed} / {summary.calls}"),
        ("containment rate (resolved without a person)", _pct(summary.containment_rate)),
        ("escalation reasons", reasons),
        ("partial-failure rate (a system call failed)", _pct(summary.partial_failure_rate)),
        (
            "systems touched per resolution",
            "–" if summary.systems_per_resolution is None else f"{summary.systems_per_resolution:.1f}",
        ),
        ("turn latency p50 / p90 / p95 / max", " / ".join(_ms(lat.get(k)) for k in ("p50", "p90", "p95", "max"))),
        ("outcomes", outcomes),
        ("task completion", _pct(summary.task_completion_rate)),
        ("verification coverage", _pct(summary.verification_coverage)),
        ("policy violations", str(summary.policy_violations)),
        ("false completion claims", str(summary.false_completion_claims)),
        ("wasted steps", str(summary.wasted_steps)),
        ("replay speed", f"{summary.call_s:.0f} s of calls in {summary.wall_s:.0f} s ({speed:.1f}x real time)"),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table id="aggregate" class="aggregate"><tbody>{body}</tbody></table>'


def _calls_table(reports: list[CallReport]) -> str:
    head = "<tr><th>call</th><th>result</th><th>outcome</th><th>intents</th><th>turns</th><th>barge-ins</th>" \
           "<th>worst turn latency</th><th>verification</th><th>violations</th><th>speed</th></tr>"  # fmt: skip
    rows = []
    for r in reports:
        lat = r.turn_latencies()
        cov = r.scores.verification_coverage if r.scores else None
        viol = len(r.scores.policy_violations) if r.scores else 0
        rows.append(
            f'<tr><td><a href="#call-{escape(folder_name(r.name))}">{escape(r.name)}</a></td>'
            f"<td>{_badge(r.passed, r.error is not None)}</td><td>{escape(r.outcome)}</td>"
            f"<td>{escape(', '.join(r.intents)) or '–'}</td><td class=num>{len(r.turns)}</td>"
            f"<td class=num>{r.barge_ins}</td><td class=num>{_ms(max(lat) if lat else None)}</td>"
            f"<td class=num>{_pct(cov)}</td><td class=num>{viol}</td><td class=num>{r.speed:.1f}x</td></tr>"
        )
    return f'<table id="calls" class="calls"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _timeline(r: CallReport, cid: str) -> str:
    length = max([r.call_s, 1.0] + [(e.end_s or e.at_s) for e in r.timeline])
    parts = []
    for e in r.timeline:
        left = 100 * e.at_s / length
        if e.kind in ("caller_speech", "bot_audio"):
            side = "caller" if e.kind == "caller_speech" else "bot"
            width = max(0.3, 100 * ((e.end_s or e.at_s) - e.at_s) / length)
            style = f"left:{left:.2f}%;width:{width:.2f}%"
            parts.append(f'<div class="lane {side}"><div class="seg {side}" style="{style}" '
                         f'title="{side} {e.at_s:.1f}-{(e.end_s or e.at_s):.1f} s"></div></div>')  # fmt: skip
        elif e.kind in ("clear", "hang_up"):
            label = "barge-in (bot cut off)" if e.kind == "clear" else f"hang-up by {e.name}"
            parts.append(
                f'<div class="tick {e.kind}" style="left:{left:.2f}%" title="{label} at {e.at_s:.1f} s"></div>'
            )
    legend = ('<div class="legend"><span><i class="sw" style="background:#3b6fd8"></i>caller</span>'
              '<span><i class="sw" style="background:#7d4cc2"></i>bot</span>'
              '<span><i class="sw" style="background:#e0861d"></i>barge-in</span>'
              '<span><i class="sw" style="background:#1d2330"></i>hang-up</span>'
              f'<span class="muted">{length:.1f} s; click to listen from there</span></div>')  # fmt: skip
    return f'<div class="timeline" data-call="{cid}" data-length="{length:.2f}">{"".join(parts)}</div>{legend}'


def _state(state: dict[str, Any] | None) -> str:
    if not state:
        return ""
    keep = {k: v for k, v in state.items() if v not in (None, [], {}, "")}
    return "<code>" + escape(json.dumps(keep, ensure_ascii=False)) + "</code>"


def _transcript(r: CallReport, cid: str) -> str:
    turns = {t.turn: t for t in r.turns}
    rows = []
    shown: set[int] = set()
    for line in r.transcript:
        turn = turns.get(line.turn)
        extra = ""
        if line.speaker == "bot" and turn is not None and line.turn not in shown:
            shown.add(line.turn)
            lat = turn.latency_ms
            extra = (f"{_state(turn.state)}<br><span class=muted>latency {_ms(lat.get('total'))}"
                     f" (turn end {_ms(lat.get('end_of_turn'))}, dialogue {_ms(lat.get('dialogue'))},"
                     f" speech {_ms(lat.get('tts_first_audio'))})</span>")  # fmt: skip
        text = escape(line.text)
        if line.interrupted:
            text = f'<span class="interrupted" title="cut off by the caller">{text}</span> <em>(cut off)</em>'
        rows.append(f'<tr class="{line.speaker}"><td class="t" data-call="{cid}" data-seek="{line.at_s:.2f}">'
                    f"{line.at_s:6.1f} s</td><td class=who>{line.speaker}</td>"
                    f"<td>{text}</td><td>{extra}</td></tr>")  # fmt: skip
    head = "<tr><th>at</th><th>who</th><th>said</th><th>workflow state after the turn</th></tr>"
    return f'<table class="transcript"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _tools(r: CallReport) -> str:
    if not r.tool_calls:
        return '<p class="muted">No back-office calls.</p>'
    rows = []
    for t in r.tool_calls:
        verified = "–" if not t.write else ("verified" if t.verified else "NOT verified")
        detail = ", ".join(x for x in (t.confirmation_id or "", "; ".join(t.checks), t.error or "") if x)
        rows.append(f"<tr><td class=num>{t.turn}</td><td>{escape(t.tool)}</td><td>{escape(', '.join(t.systems))}</td>"
                    f"<td>{'write' if t.write else 'read'}</td><td>{escape(str(t.status))}</td><td>{verified}</td>"
                    f"<td>{escape(detail)}</td><td class=num>{t.duration_ms}</td></tr>")  # fmt: skip
    head = "<tr><th>turn</th><th>tool</th><th>systems</th><th>kind</th><th>status</th><th>verification</th>" \
           "<th>evidence</th><th>ms</th></tr>"  # fmt: skip
    return f'<table class="tools"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _call(r: CallReport, audio: CallAudio) -> str:
    cid = escape(folder_name(r.name))
    failures = "".join(f"<li>{escape(m)}</li>" for m in r.failures())
    players = []
    for side, samples in (("caller", audio.caller), ("bot", audio.bot)):
        if samples is not None and len(samples):
            players.append(f'<span><label>{side}</label><audio controls preload="none" data-call="{cid}" '
                           f'data-side="{side}" src="{audio_data_uri(samples)}"></audio></span>')  # fmt: skip
    checks = "".join(f"<tr><td>{_badge(c.passed)}</td><td>{escape(c.expectation)}</td><td>{escape(c.expected)}</td>"
                     f"<td>{escape(c.actual if not c.passed else '')}</td></tr>" for c in r.checks)  # fmt: skip
    scores = ""
    if r.scores:
        s = r.scores
        items = [("task completed", "yes" if s.task_completed else "no"),
                 ("verification coverage", _pct(s.verification_coverage)),
                 ("policy violations", "; ".join(s.policy_violations) or "none"),
                 ("false completion claims", "; ".join(s.false_completion_claims) or "none"),
                 ("wasted steps", f"{s.wasted_steps}" + (f": {'; '.join(s.wasted)}" if s.wasted else ""))]  # fmt: skip
        scores = (
            "<table class=scores>"
            + "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in items)
            + "</table>"
        )
    handoff = ""
    if r.handoff:
        handoff = ("<details open><summary>Hand-off summary</summary><pre>"
                   + escape(json.dumps(r.handoff, indent=2, ensure_ascii=False)) + "</pre></details>")  # fmt: skip
    return f"""
<section class="call" id="call-{cid}">
<h2>{_badge(r.passed, r.error is not None)} {escape(r.name)}</h2>
<p class="muted">{escape(r.description or "")} · outcome <b>{escape(r.outcome)}</b> · {r.caller_audio_s:.1f} s recorded,
{r.call_s:.1f} s replayed ({escape(r.timing)} timing) in {r.wall_s:.1f} s · hung up by {escape(r.hung_up_by or "–")}</p>
{f'<ul class="failures">{failures}</ul>' if failures else ""}
<div class="players">{"".join(players)}</div>
{_timeline(r, cid)}
<h3>Transcript</h3>{_transcript(r, cid)}
<h3>Expectations</h3><table class="checks"><tbody>{checks or "<tr><td class=muted>none</td></tr>"}</tbody></table>
<h3>Back-office calls</h3>{_tools(r)}
<h3>Scores</h3>{scores}
{handoff}
</section>"""


def render(results: list[tuple[CallReport, CallAudio]], summary: Aggregate) -> str:
    reports = [r for r, _ in results]
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdict = _badge(summary.passed == summary.calls)
    calls = "".join(_call(r, a) for r, a in results)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Frontdesk call replay: {summary.passed}/{summary.calls} passed</title><style>{_CSS}</style></head>
<body><header><h1>Call replay report {verdict}</h1>
<p>{summary.calls} calls replayed through the phone pipeline · {generated}</p></header>
<main><h2>Summary</h2>{_aggregate(summary)}<h2>Calls</h2>{_calls_table(reports)}{calls}</main>
<script>{_JS}</script></body></html>
"""


def write_html(path: Path, results: list[tuple[CallReport, CallAudio]], summary: Aggregate) -> Path:
    path.write_text(render(results, summary), encoding="utf-8")
    return path
