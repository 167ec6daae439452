"""Dates and times relative to the conversation's clock: "tomorrow at 3 pm", "next monday morning",
"november 23rd", "in two days", "mañana a las tres y media", "el próximo lunes por la tarde".

Dates come out as ISO "YYYY-MM-DD", times as "HH:MM". A weekday means its next occurrence after
today ("this friday" may be today). An hour said without am/pm is read in business hours (1-7
means afternoon) with lower confidence; a bare part of the day ("morning") is a typical hour with
lower confidence still, and only when no explicit time was said.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import mapping, phrases

_DAY = re.compile(r"(\d{1,2})(st|nd|rd|th)?")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_COMPACT = re.compile(r"(\d{1,2})(\d{2})")


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    now = ctx.now or datetime.now(UTC)
    today = now.date()
    dates = _dates(doc, today, expected)
    times = _times(doc, expected)
    return dates + times


# ---------------------------------------------------------------- dates


def _small_number(tok: str, lang: str) -> int | None:
    if tok.isdigit():
        return int(tok)
    words = {w: int(v) for w, v in mapping(lang, "digit_words").items()}
    words.update({"a": 1, "an": 1, "un": 1, "una": 1})
    return words.get(tok)


def _dates(doc: Doc, today: date, expected: frozenset[str]) -> list[Found]:
    tokens, lang = doc.tokens, doc.lang
    found: list[Found] = []
    taken: set[int] = set()

    def add(value: date, start: int, end: int, confidence: float) -> None:
        if taken.intersection(range(start, end)):
            return
        taken.update(range(start, end))
        found.append(Found("date", value.isoformat(), start, end, confidence, priority=2))

    relative = mapping(lang, "relative_days")
    for start, end, phrase in doc.find_any(tuple(relative)):
        if phrase == "manana" and start > 0 and tokens[start - 1] in ("la", "esta"):
            continue  # "por la mañana" is the morning, not tomorrow
        add(today + timedelta(days=int(relative[phrase])), start, end, 0.95)

    weekdays = mapping(lang, "weekdays")
    next_words = phrases(lang, "next_words")
    this_words = phrases(lang, "this_words")
    for i, tok in enumerate(tokens):
        if tok not in weekdays:
            continue
        start, end = i, i + 1
        is_this = False
        for words in next_words + this_words:
            n = len(words.split())
            if doc.at(max(0, i - n), words) and i - n >= 0:
                start = i - n
                is_this = words in this_words
            if doc.at(i + 1, words) and words in next_words:
                end = i + 1 + n
        ahead = (int(weekdays[tok]) - today.weekday()) % 7
        if ahead == 0 and not is_this:
            ahead = 7
        add(today + timedelta(days=ahead), start, end, 0.9)

    units = mapping(lang, "day_units")
    for start, end, _ in doc.find_any(phrases(lang, "in_words")):
        if end + 1 < len(tokens):
            count = _small_number(tokens[end], lang)
            unit = tokens[end + 1]
            if count is not None and unit in units and count * int(units[unit]) <= 366:
                add(today + timedelta(days=count * int(units[unit])), start, end + 2, 0.9)

    months = mapping(lang, "months")
    ordinals = mapping(lang, "ordinals")
    for i, tok in enumerate(tokens):
        if tok not in months:
            continue
        day, start, end = _day_around(tokens, i, ordinals)  # a month counts only with its day ("may" alone does not)
        if day is None:
            continue
        year, end = _year_after(tokens, end)
        value = _calendar(today, int(months[tok]), day, year)
        if value:
            add(value, start, end, 0.9)

    if "date" in expected and not found:
        for i, tok in enumerate(tokens):
            m = _DAY.fullmatch(tok)
            if m and m.group(2) and 1 <= int(m.group(1)) <= 31:
                value = _next_day_of_month(today, int(m.group(1)))
                if value:
                    add(value, i, i + 1, 0.7)
    return found


def _day_value(tok: str, ordinals: dict) -> int | None:
    m = _DAY.fullmatch(tok)
    if m and 1 <= int(m.group(1)) <= 31:
        return int(m.group(1))
    value = ordinals.get(tok)
    return int(value) if value and value > 0 else None


def _day_around(tokens: tuple[str, ...], i: int, ordinals: dict) -> tuple[int | None, int, int]:
    """The day of the month next to a month name: "november 23", "23 de noviembre", "the 23rd of november"."""
    if i + 1 < len(tokens):
        day = _day_value(tokens[i + 1], ordinals)
        if day:
            return day, i, i + 2
        if tokens[i + 1] == "the" and i + 2 < len(tokens) and _day_value(tokens[i + 2], ordinals):
            return _day_value(tokens[i + 2], ordinals), i, i + 3
    j = i - 1
    if j >= 0 and tokens[j] in ("of", "de"):
        j -= 1
    if j >= 0:
        day = _day_value(tokens[j], ordinals)
        if day:
            start = j - 1 if j > 0 and tokens[j - 1] in ("the", "el") else j
            return day, start, i + 1
    return None, i, i + 1


def _year_after(tokens: tuple[str, ...], end: int) -> tuple[int | None, int]:
    k = end + 1 if end < len(tokens) and tokens[end] in ("de", "del") else end
    if k < len(tokens) and re.fullmatch(r"20\d\d", tokens[k]):
        return int(tokens[k]), k + 1
    return None, end


def _calendar(today: date, month: int, day: int, year: int | None) -> date | None:
    try:
        value = date(year or today.year, month, day)
    except ValueError:
        return None
    if year is None and value < today:
        try:
            value = date(today.year + 1, month, day)
        except ValueError:
            return None
    return value


def _next_day_of_month(today: date, day: int) -> date | None:
    for offset in range(0, 3):
        month = (today.month - 1 + offset) % 12 + 1
        year = today.year + (today.month - 1 + offset) // 12
        try:
            value = date(year, month, day)
        except ValueError:
            continue
        if value >= today:
            return value
    return None


# ---------------------------------------------------------------- times


def _times(doc: Doc, expected: frozenset[str]) -> list[Found]:
    tokens, lang = doc.tokens, doc.lang
    am = phrases(lang, "am_words")
    pm = phrases(lang, "pm_words")
    cues = phrases(lang, "time_cues")
    found: list[Found] = []
    taken: set[int] = set()

    def meridiem(i: int) -> tuple[str | None, int]:
        for words in sorted(am + pm, key=lambda w: -len(w.split())):
            if doc.at(i, words):
                return ("am" if words in am else "pm"), i + len(words.split())
        return None, i

    def minutes_after(i: int) -> tuple[int, int, int]:
        """(minutes, end, hour shift) for "y media", "y cuarto", "menos cuarto", "y 10", "oclock"."""
        for key, minutes, shift in (("half_past", 30, 0), ("quarter_past", 15, 0), ("quarter_to", 45, -1)):
            for words in phrases(lang, key):
                if doc.at(i, words):
                    return minutes, i + len(words.split()), shift
        for words in phrases(lang, "oclock"):
            if doc.at(i, words):
                return 0, i + len(words.split()), 0
        if lang == "es" and i + 1 < len(tokens) and tokens[i] == "y" and tokens[i + 1].isdigit():
            if int(tokens[i + 1]) < 60:
                return int(tokens[i + 1]), i + 2, 0
        return 0, i, 0

    def add(hour: int, minute: int, start: int, end: int, confidence: float) -> None:
        if taken.intersection(range(start, end)) or not (0 <= hour <= 23 and 0 <= minute <= 59):
            return
        taken.update(range(start, end))
        found.append(Found("time", f"{hour:02d}:{minute:02d}", start, end, confidence, priority=2))

    def settle(hour: int, minute: int, start: int, i: int, cued: bool) -> None:
        extra, i, shift = minutes_after(i)
        minute = minute or extra
        hour += shift
        half, i = meridiem(i)
        if half == "pm" and hour < 12:
            hour += 12
        elif half == "am" and hour == 12:
            hour = 0
        if half or hour > 12:
            add(hour, minute, start, i, 0.95)
        elif cued or "time" in expected:
            add(hour + 12 if 1 <= hour <= 7 else hour, minute, start, i, 0.75)

    # "half past three", "quarter to five"
    for key, minute, shift in (("half_past", 30, 0), ("quarter_past", 15, 0), ("quarter_to", 45, -1)):
        if lang == "es":
            continue
        for start, end, _ in doc.find_any(phrases(lang, key)):
            if end < len(tokens) and tokens[end].isdigit() and 1 <= int(tokens[end]) <= 12:
                hour = int(tokens[end]) + shift
                half, stop = meridiem(end + 1)
                if half == "pm" and hour < 12:
                    hour += 12
                elif half is None and 1 <= hour <= 7:
                    hour += 12
                add(hour, minute, start, stop, 0.9 if half else 0.75)

    for i, tok in enumerate(tokens):
        if i in taken:
            continue
        cue_start = _cue_before(doc, i, cues)
        cued = cue_start is not None
        start = cue_start if cued else i
        m = _CLOCK.fullmatch(tok)
        if m:
            settle(int(m.group(1)), int(m.group(2)), start, i + 1, True)
            continue
        if not tok.isdigit():
            continue
        if len(tok) <= 2 and int(tok) <= 24:
            half, _ = meridiem(i + 1)
            extra, _, _ = minutes_after(i + 1)
            if half or cued or extra or "time" in expected:
                settle(int(tok), 0, start, i + 1, cued or bool(half) or bool(extra))
        elif len(tok) in (3, 4) and (cued or meridiem(i + 1)[0]):
            m = _COMPACT.fullmatch(tok)
            if m and int(m.group(2)) < 60:
                settle(int(m.group(1)), int(m.group(2)), start, i + 1, True)

    if not found:
        parts = mapping(lang, "day_parts")
        for start, end, phrase in doc.find_any(tuple(parts)):
            hour, minute = (int(x) for x in str(parts[phrase]).split(":"))
            exact = phrase in ("noon", "midday", "midnight", "mediodia", "al mediodia", "medianoche", "lunchtime")
            add(hour, minute, start, end, 0.9 if exact else 0.6)
    return found


def _cue_before(doc: Doc, i: int, cues: tuple[str, ...]) -> int | None:
    for words in cues:
        n = len(words.split())
        if i - n >= 0 and doc.at(i - n, words):
            return i - n
    return None
