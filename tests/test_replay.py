"""QA replay of the sample calls through the phone pipeline: the command, its reports and its verdicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CALLS = ROOT / "assets" / "calls"
SAMPLES = sorted(p.name for p in CALLS.iterdir() if (p / "call.wav").is_file())

pytestmark = pytest.mark.slow


def replay(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "frontdesk", "replay", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """Every sample call replayed once, two at a time; the reports are shared.

    Turn timing: the caller waits for each answer, so a busy test machine (slower answers) cannot make
    a caller talk over a read-back the way the recorded timing would; and the speech models take no time
    on the call's clock, so how busy the machine is cannot change how turns are taken.
    """
    out = tmp_path_factory.mktemp("replay-report")
    done = replay(str(CALLS), "--report", str(out), "--jobs", "2", "--timing", "turns", "--model-time", "free")
    return done, out


def test_there_are_enough_sample_calls():
    assert len(SAMPLES) >= 6, SAMPLES
    for name in SAMPLES:
        assert (CALLS / name / "expect.yaml").is_file(), name
    total = sum((CALLS / n / "call.wav").stat().st_size for n in SAMPLES)
    assert total < 5_000_000, total


def test_the_sample_calls_replay_and_pass(replayed):
    done, out = replayed
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [c["name"] for c in summary["calls"]] == SAMPLES
    assert all(c["passed"] for c in summary["calls"]), summary["calls"]
    aggregate = summary["aggregate"]
    assert aggregate["calls"] == aggregate["passed"] == len(SAMPLES)
    assert 0 < aggregate["containment_rate"] < 1
    assert aggregate["latency_ms"]["p50"] is not None


def test_each_call_has_a_full_report(replayed):
    _, out = replayed
    for name in SAMPLES:
        report = json.loads((out / name / "report.json").read_text())
        assert report["checks"] and all(c["passed"] for c in report["checks"]), report["checks"]
        speakers = {line["speaker"] for line in report["transcript"]}
        assert speakers == {"caller", "bot"}, name
        assert all(line["at_s"] >= 0 for line in report["transcript"])
        spoken = [t for t in report["turns"] if t["kind"] == "speech"]
        assert spoken and all(t["state"] is not None for t in spoken), name
        assert any(t["latency_ms"]["total"] is not None for t in spoken), name
        assert report["scores"]["policy_violations"] == []
        assert report["scores"]["false_completion_claims"] == []
        assert (out / name / "caller.wav").stat().st_size > 8000
        assert (out / name / "bot.wav").stat().st_size > 8000


def test_what_happened_in_the_back_office_is_reported(replayed):
    _, out = replayed
    cancel = json.loads((out / "cancel-order" / "report.json").read_text())
    writes = [t for t in cancel["tool_calls"] if t["write"] and t["tool"] == "cancel_pending_order"]
    assert len(writes) == 1 and writes[0]["verified"] and writes[0]["confirmation_id"]
    assert cancel["scores"]["verification_coverage"] == 1.0 and cancel["scores"]["task_completed"]
    failing = json.loads((out / "system-failure" / "report.json").read_text())
    assert any(t["status"] != "ok" for t in failing["tool_calls"])
    assert failing["handoff"]["reason"] and failing["outcome"] == "handed_off"
    barge = json.loads((out / "barge-in" / "report.json").read_text())
    assert barge["outcome"] == "resolved"  # a stereo recording: the caller's channel was replayed
    spanish = json.loads((out / "spanish" / "report.json").read_text())
    assert spanish["language"] == "es"


def test_a_wrong_expectation_fails_with_a_clear_message(tmp_path):
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("outcome: resolved\nmust_say: ['your refund is on its way']\n", encoding="utf-8")
    done = replay(str(CALLS / "handoff"), "--expect", str(wrong), "--timing", "turns")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "call 'handoff': expected outcome resolved, but the outcome was handed_off" in done.stderr, done.stderr
    assert "call 'handoff': expected must_say 'your refund is on its way', but the bot never said it" in done.stderr


def test_bad_arguments_exit_2(tmp_path):
    done = replay(str(tmp_path / "nothing-here.wav"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("outcome: maybe\n", encoding="utf-8")
    done = replay(str(CALLS / "handoff"), "--expect", str(bad))
    assert done.returncode == 2 and "bad.yaml" in done.stderr


# --------------------------------------------------------------------------- the HTML report in a browser

CHROMIUM = os.environ.get("FRONTDESK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()


@pytest.mark.browser
async def test_the_html_report_shows_the_timeline_and_the_table(replayed, tmp_path):
    playwright_api = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        if os.environ.get("FRONTDESK_REQUIRE_BROWSER") == "1" or os.environ.get("CI"):
            pytest.fail(f"Chromium is required here ({CHROMIUM} not found; apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    _, out = replayed
    html = out / "report.html"
    text = html.read_text(encoding="utf-8")
    assert "http://" not in text.replace("http://www.w3.org", "") and "<link" not in text  # self-contained
    assert text.count("data:audio/") == 2 * len(SAMPLES)
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(html.as_uri())
            await playwright_api.expect(page.locator("#aggregate")).to_be_visible()
            await playwright_api.expect(page.locator("#aggregate")).to_contain_text("containment rate")
            await playwright_api.expect(page.locator("#calls tbody tr")).to_have_count(len(SAMPLES))
            await playwright_api.expect(page.locator(".badge.pass").first).to_be_visible()
            timelines = page.locator(".timeline")
            await playwright_api.expect(timelines).to_have_count(len(SAMPLES))
            await timelines.first.scroll_into_view_if_needed()
            await playwright_api.expect(timelines.first).to_be_visible()
            assert await page.locator(".timeline .seg.caller").count() >= len(SAMPLES)
            assert await page.locator(".timeline .seg.bot").count() >= len(SAMPLES)
            assert await page.locator("audio[data-side=caller]").count() == len(SAMPLES)
            box = await timelines.first.bounding_box()
            assert box and box["width"] > 600 and box["height"] > 40
            duration = await page.evaluate(
                "() => new Promise(r => { const a = document.querySelector('audio[data-side=bot]');"
                " a.preload = 'auto'; a.addEventListener('loadedmetadata', () => r(a.duration)); a.load(); })"
            )
            assert duration > 5, duration  # the embedded audio decodes
            shot = tmp_path / "report.png"
            await page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 40_000
        finally:
            await browser.close()
