"""Measures the built-in understanding on the held-out phrases, and tunes the intent thresholds.

    python -m dialogue.understanding.evaluate            # accuracy, not-sure rates, latency
    python -m dialogue.understanding.evaluate --tune     # suggest temperature, threshold, margin
    python -m dialogue.understanding.evaluate --pack MODULE:NAME   # with a domain's pack

Reporting uses assets/nlu/<lang>/eval.yaml, which is never trained on. It measures the built-in
understanding with the given packs (`--pack` is repeatable: their parsers run and only their
intents may be answered), or, without any, with every intent the phrases name. Tuning uses only
the training phrases (5-fold cross-validation: every phrase is scored by a model that did not
see it), so the reported figures are not tuned on the phrases they are measured with.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from dialogue.understanding.builtin import BuiltinUnderstanding
from dialogue.understanding.core import CORE
from dialogue.understanding.extensions import IntentKind, UnderstandingPack
from dialogue.understanding.intent import (
    IntentClassifier,
    build_pipeline,
    classifier,
    decide,
    families_of,
    fit,
    softmax,
    training_set,
)
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.resources import load

# A wrong flow costs this many right ones: asking again is cheaper than starting the wrong workflow.
WRONG_COST = 2.0


@dataclass
class Report:
    lang: str
    train_seconds: float
    flow_total: int
    flow_correct: int
    flow_unsure: int
    flow_wrong: list[tuple[str, str, str | None]]
    none_total: int
    none_unsure: int
    none_wrong: list[tuple[str, str | None]]
    p50_ms: float
    p99_ms: float

    @property
    def accuracy(self) -> float:
        return self.flow_correct / self.flow_total if self.flow_total else 0.0

    @property
    def none_rate(self) -> float:
        return self.none_unsure / self.none_total if self.none_total else 0.0


def phrase_intents(lang: str) -> UnderstandingPack:
    """A pack of nothing but the intents the phrases of `lang` name: to measure the phrases alone."""
    core = set(CORE.intent_names)
    names = [n for n in load(lang, "intents").get("intents") or {} if n not in core]
    return UnderstandingPack(name=f"{lang} phrases", intents=tuple(IntentKind(n, "") for n in names))


def evaluate(
    lang: str, repeats: int = 5, *, time_training: bool = True, packs: Sequence[UnderstandingPack] | None = None
) -> Report:
    """The held-out figures of the built-in understanding with `packs` (default: `phrase_intents`)."""
    train_seconds = 0.0
    if time_training:
        started = time.perf_counter()
        IntentClassifier(lang)
        train_seconds = time.perf_counter() - started
    if packs is None:
        packs = [phrase_intents(lang)]
    understander = BuiltinUnderstanding(languages=(lang,), packs=packs, warm=True)
    ctx = UnderstandingContext(language=lang, languages=(lang,))
    data = load(lang, "eval")
    # A family member counts as right: the flows hand over to each other once the order is read.
    families = classifier(lang).families
    flow_correct = flow_unsure = 0
    flow_wrong: list[tuple[str, str, str | None]] = []
    flow_total = 0
    for intent, examples in (data.get("intents") or {}).items():
        for text in examples:
            flow_total += 1
            got = understander.understand_now(str(text), ctx).intent
            if got == intent or any(got in f and intent in f for f in families):
                flow_correct += 1
            elif got is None:
                flow_unsure += 1
            else:
                flow_wrong.append((str(text), intent, got))
    none_wrong: list[tuple[str, str | None]] = []
    nones = [str(t) for t in data.get("none") or []]
    for text in nones:
        got = understander.understand_now(text, ctx).intent
        if got is not None:
            none_wrong.append((text, got))
    everything = [str(t) for ex in (data.get("intents") or {}).values() for t in ex] + nones
    timings: list[float] = []
    for _ in range(repeats):
        for text in everything:
            t0 = time.perf_counter()
            understander.understand_now(text, ctx)
            timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return Report(
        lang=lang,
        train_seconds=train_seconds,
        flow_total=flow_total,
        flow_correct=flow_correct,
        flow_unsure=flow_unsure,
        flow_wrong=flow_wrong,
        none_total=len(nones),
        none_unsure=len(nones) - len(none_wrong),
        none_wrong=none_wrong,
        p50_ms=statistics.median(timings),
        p99_ms=timings[min(len(timings) - 1, int(len(timings) * 0.99))],
    )


def tune(lang: str) -> dict[str, float | str]:
    """Temperature by held-out log-loss, then threshold and margin by a cost that hates wrong guesses."""
    texts, labels = training_set(lang)
    flows = frozenset(load(lang, "intents").get("intents") or {})
    families = families_of(load(lang, "intents"))
    y = np.array(labels)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    classes = sorted(set(labels))
    scores = np.zeros((len(texts), len(classes)))
    for train, test in folds.split(texts, y):
        model = fit(build_pipeline(float(load(lang, "intents").get("c", 0.5))), [texts[i] for i in train], y[train])
        part = model.decision_function([texts[i] for i in test])
        index = [classes.index(c) for c in model.classes_]
        scores[np.ix_(test, index)] = part
    truth = np.array([classes.index(label) for label in labels])
    best_t, best_loss = 1.0, float("inf")
    for t in np.arange(0.05, 1.01, 0.05):
        probs = softmax(scores, float(t))
        loss = -np.mean(np.log(probs[np.arange(len(truth)), truth] + 1e-12))
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    probs = softmax(scores, best_t)
    best = (0.0, 0.0, -float("inf"))
    for threshold in np.arange(0.2, 0.9, 0.02):
        for margin in np.arange(0.0, 0.5, 0.02):
            utility = 0.0
            for row, label in zip(probs, labels, strict=True):
                got = decide(row, classes, float(threshold), float(margin), flows, families).intent
                if label in flows:
                    utility += 1.0 if got == label else (-WRONG_COST if got else 0.0)
                elif got is not None:
                    utility -= WRONG_COST
            if utility > best[2]:
                best = (float(threshold), float(margin), utility)
    shipped = classifier(lang)
    return {
        "temperature": round(best_t, 2),
        "confidence": round(best[0], 2),
        "margin": round(best[1], 2),
        # What the suggested and the shipped thresholds do on the held-out folds (each phrase scored
        # by a model that did not see it).
        "folds_suggested": _folds(probs, classes, labels, flows, families, best[0], best[1]),
        "folds_shipped": _folds(probs, classes, labels, flows, families, shipped.threshold, shipped.margin),
    }


def _folds(
    probs: np.ndarray,
    classes: list[str],
    labels: list[str],
    flows: frozenset[str],
    families: tuple[tuple[str, ...], ...],
    threshold: float,
    margin: float,
) -> str:
    got = [decide(row, classes, threshold, margin, flows, families).intent for row in probs]
    requests = [(g, label) for g, label in zip(got, labels, strict=True) if label in flows]
    others = [g for g, label in zip(got, labels, strict=True) if label not in flows]
    right = sum(g == label for g, label in requests)
    unsure = sum(g is None for g, _ in requests)
    calm = sum(g is None for g in others)
    return (
        f"requests {right}/{len(requests)} right ({100 * right / len(requests):.1f}%), {unsure} not sure, "
        f"{len(requests) - right - unsure} wrong; not requests: not sure on {calm}/{len(others)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune", action="store_true", help="suggest thresholds from cross-validation")
    parser.add_argument("--lang", action="append", help="language(s) to measure (default: all)")
    parser.add_argument(
        "--pack", action="append", default=[], metavar="MODULE:NAME", help="an understanding pack to measure with"
    )
    args = parser.parse_args()
    langs = args.lang or ["en", "es"]
    packs = [_load_pack(spec) for spec in args.pack] or None
    for lang in langs:
        if args.tune:
            print(lang, tune(lang))
            continue
        r = evaluate(lang, packs=packs)
        print(f"[{r.lang}] intent model fitted in {r.train_seconds * 1000:.0f} ms")
        print(
            f"[{r.lang}] held-out flow phrases: {r.flow_correct}/{r.flow_total} correct ({r.accuracy:.1%}), "
            f"{r.flow_unsure} not sure, {len(r.flow_wrong)} wrong"
        )
        print(f"[{r.lang}] out-of-scope/other phrases: not sure on {r.none_unsure}/{r.none_total} ({r.none_rate:.1%})")
        print(f"[{r.lang}] per-turn latency: p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms")
        for text, want, got in r.flow_wrong:
            print(f"   wrong: {text!r}: {want} -> {got}")
        for text, got in r.none_wrong:
            print(f"   not-none: {text!r} -> {got}")


def _load_pack(spec: str) -> UnderstandingPack:
    module, _, name = spec.partition(":")
    pack = getattr(importlib.import_module(module), name, None) if name else None
    if not isinstance(pack, UnderstandingPack):
        raise SystemExit(f"--pack {spec}: not MODULE:NAME of an UnderstandingPack")
    return pack


if __name__ == "__main__":
    main()
