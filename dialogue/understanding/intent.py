"""The intent classifier: TF-IDF word and character n-grams into a linear SVM, temperature-scaled.

Trained at start-up from assets/nlu/<lang>/intents.yaml (flow intents plus the classes that are
not requests, such as greetings, bare answers, chit-chat and out-of-scope asks, so the model is
never forced to pick a flow), once per process and language. It answers "not sure" (None) unless
the best flow intent clears a probability threshold and a margin over the runner-up. Which flow
intents may be answered is the caller's to say (those its packs register; by default every one
the phrases name). The SVM's class scores become probabilities by a softmax with one temperature
(temperature scaling); the temperature, threshold and margin are tuned on held-out phrases and
kept next to the phrases. Fitting uses scikit-learn; prediction reads the fitted vocabularies and
weights directly, which is what keeps a turn well under a millisecond.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from dialogue.understanding.models import IntentGuess
from dialogue.understanding.normalize import normalize
from dialogue.understanding.resources import load, mapping, phrases

_lock = threading.Lock()
# A word shorter than this is not corrected: one edit away from a four-letter word is too often
# another word or a name ("chen", "when").
_SHORTEST_TYPO = 5
_EMAIL = re.compile(r"\S+@\S+")
_NUMBER = re.compile(r"\b\d+(?:[.:]\d+)?(?:st|nd|rd|th)?\b")


@dataclass(frozen=True)
class IntentResult:
    intent: str | None
    confidence: float
    ranking: list[IntentGuess]
    label: str  # the best class, flow or not ("greet", "out_of_scope", ...)
    label_confidence: float
    runner_up: str = "none"  # the second best class, flow or not
    runner_up_confidence: float = 0.0


@cache
def _references(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Record references ("w2378156") and the word the model sees instead (lexicon `references`)."""
    return tuple(
        (re.compile(rf"\b{re.escape(prefix)}\d{{5,9}}\b"), f" {word} ")
        for prefix, word in mapping(lang, "references").items()
    )


@cache
def _discourse_markers(lang: str) -> re.Pattern[str] | None:
    """Words that say how a turn relates to the last one ("instead", "actually"), not what is asked
    (lexicon `discourse_markers`; the act detector reads them from the unmasked turn)."""
    words = phrases(lang, "discourse_markers")
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")


@cache
def _courtesies(lang: str) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """A turn's opening and closing courtesies (lexicon `courtesy_openings` and `courtesy_closings`)."""
    openings, closings = phrases(lang, "courtesy_openings"), phrases(lang, "courtesy_closings")
    if not openings or not closings:
        return None

    def alternatives(words: list[str]) -> str:
        return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))

    return (
        re.compile(rf"^(?:(?:{alternatives(openings)})\b\s*)+"),
        re.compile(rf"(?:\s*\b(?:{alternatives(closings)}))+\s*$"),
    )


def without_courtesies(text: str, lang: str) -> str:
    """The turn without the greeting it opens with and the thanks it closes with, when a request of
    at least three words is left: "hi there, we need to call off one of them, thanks so much" is a
    cancellation, not a greeting or a thank-you."""
    courtesies = _courtesies(lang)
    if courtesies is None:
        return text
    opening, closing = courtesies
    core = closing.sub("", opening.sub("", text))
    return core if len(core.split()) >= 3 else text


def features_text(normalized: str, lang: str) -> str:
    """What the model sees: the normalised turn with values masked, so "W2378156" is just a reference,
    and without discourse markers, so "check my order instead" is not read as a change of payment
    because the training phrases for changes often end in "instead"."""
    text = without_courtesies(normalized, lang)
    text = _EMAIL.sub(" emailaddress ", text) if "@" in text else text
    for pattern, word in _references(lang):
        text = pattern.sub(word, text)
    markers = _discourse_markers(lang)
    if markers is not None:
        text = markers.sub(" ", text)
    return _NUMBER.sub(" num ", text)


def build_pipeline(c: float = 0.5) -> Pipeline:
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+")),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ]
    )
    return Pipeline([("features", features), ("clf", LinearSVC(C=c, random_state=0))])


def fit(pipeline: Pipeline, texts: list[str], labels: list[str]) -> Pipeline:
    # One BLAS thread: on two cores, oversubscription makes fitting several times slower.
    with threadpool_limits(limits=1):
        return pipeline.fit(texts, labels)


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class _FastScorer:
    """The fitted pipeline's decision function without per-call validation overhead."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.parts = []
        offset = 0
        for _, vec in pipeline.named_steps["features"].transformer_list:
            self.parts.append((vec.build_analyzer(), vec.vocabulary_, vec.idf_, offset))
            offset += len(vec.vocabulary_)
        clf = pipeline.named_steps["clf"]
        self.coef = np.ascontiguousarray(clf.coef_.T)  # features x classes
        self.intercept = clf.intercept_

    def scores(self, text: str) -> np.ndarray:
        indices: list[int] = []
        values: list[float] = []
        for analyzer, vocab, idf, offset in self.parts:
            counts = Counter(g for g in analyzer(text) if g in vocab)
            if not counts:
                continue
            idx = [vocab[g] for g in counts]
            vals = [(1.0 + math.log(n)) * idf[i] for i, n in zip(idx, counts.values(), strict=True)]
            norm = math.sqrt(sum(v * v for v in vals))
            indices.extend(i + offset for i in idx)
            values.extend(v / norm for v in vals)
        if not indices:
            return self.intercept.copy()
        return np.asarray(values) @ self.coef[indices] + self.intercept


def families_of(data: dict) -> tuple[tuple[str, ...], ...]:
    """The intent families a phrase file declares (`families: {name: [intent, ...]}`)."""
    return tuple(tuple(members) for members in (data.get("families") or {}).values())


def training_set(lang: str) -> tuple[list[str], list[str]]:
    data = load(lang, "intents")
    texts: list[str] = []
    labels: list[str] = []
    for section in ("intents", "others"):
        for label, examples in (data.get(section) or {}).items():
            for example in examples:
                texts.append(features_text(normalize(str(example), lang).text, lang))
                labels.append(label)
    return texts, labels


class IntentClassifier:
    """One fitted model for one language; `predict` is a few hundred microseconds."""

    def __init__(self, lang: str) -> None:
        data = load(lang, "intents")
        self.intents: frozenset[str] = frozenset(data.get("intents") or {})
        thresholds = data.get("thresholds") or {}
        self.lang = lang
        self.threshold = float(thresholds.get("confidence", 0.5))
        self.margin = float(thresholds.get("margin", 0.2))
        self.temperature = float(thresholds.get("temperature", 0.3))
        self.families = families_of(data)
        texts, labels = training_set(lang)
        self.pipeline = fit(build_pipeline(float(data.get("c", 0.5))), texts, labels)
        self.classes: list[str] = list(self.pipeline.classes_)
        self._scorer = _FastScorer(self.pipeline)
        words = self.pipeline.named_steps["features"].transformer_list[0][1].vocabulary_
        self._vocabulary = frozenset(w for w in words if " " not in w)
        self._choices = tuple(sorted(w for w in self._vocabulary if len(w) >= _SHORTEST_TYPO - 1 and w.isalpha()))
        # How many phrases use each word: the phrases hold a few typos too ("swich"), and a slip is
        # corrected to the common word it is as near to ("swtich" -> "switch", not "swich").
        self._uses = Counter(w for text in texts for w in set(text.split()))
        self._corrections = lru_cache(maxsize=4096)(self._nearest)

    def _nearest(self, word: str) -> str:
        # One edit (a swap of two letters counts as one) for short words, two for long ones.
        limit = 1 if len(word) < 8 else 2
        near = process.extract(word, self._choices, scorer=OSA.distance, score_cutoff=limit, limit=None)
        # A slip rarely hits the first letter: "resistance" is no typo of "assistance", nor a name
        # ("chen") of "when".
        near = [match for match in near if match[0][0] == word[0]]
        if not near:
            return word
        best = min(near, key=lambda match: (match[1], -self._uses[match[0]]))
        if best[0].startswith(word) or word.startswith(best[0]):
            return word  # another form of a word ("tienes", "tiene") is not a typo of it
        return best[0]

    def scores(self, normalized: str) -> np.ndarray:
        return self._scorer.scores(self._spelled(features_text(normalized, self.lang)))

    def _spelled(self, text: str) -> str:
        """The words the phrases never use replaced by the one phrase word a typo away ("canecl" ->
        "cancel", "odrer" -> "order"), so a slip of the keyboard does not hide what is asked."""
        words = text.split()
        fixed = [self._known(w) for w in words]
        return text if fixed == words else " ".join(fixed)

    def _known(self, word: str) -> str:
        if len(word) < _SHORTEST_TYPO or not word.isalpha() or word in self._vocabulary:
            return word
        return self._corrections(word)

    def probabilities(self, normalized: str) -> np.ndarray:
        return softmax(self.scores(normalized), self.temperature)

    def predict(self, normalized: str, intents: frozenset[str] | None = None) -> IntentResult:
        """The intent of a normalised turn among `intents` (default: every flow intent of the phrases);
        the phrases of any other intent count as not a request."""
        if not normalized.strip():
            return IntentResult(None, 0.0, [], "none", 0.0)
        probs = self.probabilities(normalized)
        allowed = self.intents if intents is None else intents
        return decide(probs, self.classes, self.threshold, self.margin, allowed, self.families)


def decide(
    probs: np.ndarray,
    classes: list[str],
    threshold: float,
    margin: float,
    intents: frozenset[str],
    families: tuple[tuple[str, ...], ...] = (),
) -> IntentResult:
    """The flow intent the probabilities name, if sure enough. The members of a family (requests that
    hand over to each other once a record is read) are weighed together against the rest, and the
    likelier member is named: "swap the lamp" is sure to be an item change even when the words alone
    cannot tell a pending order's change from a delivered order's exchange."""
    ranked = np.argsort(-probs)
    flows = [i for i in ranked if classes[i] in intents][:5]
    ranking = [IntentGuess(name=classes[i], confidence=round(float(probs[i]), 4)) for i in flows]
    index = {name: i for i, name in enumerate(classes)}
    groups: list[tuple[float, int]] = []  # (weight, best member) per family and per class outside any
    grouped: set[int] = set()
    for family in families:
        members = [index[m] for m in family if m in index and m in intents]
        if len(members) > 1:
            grouped.update(members)
            groups.append((float(probs[members].sum()), max(members, key=lambda i: probs[i])))
    groups.extend((float(probs[i]), int(i)) for i in range(len(classes)) if i not in grouped)
    groups.sort(key=lambda g: -g[0])
    top, best = groups[0]
    second, other = groups[1] if len(groups) > 1 else (0.0, best)
    label = classes[best]
    runner_up = (classes[other], second) if other != best else ("none", 0.0)
    if label in intents and top >= threshold and top - second >= margin:
        return IntentResult(label, round(top, 4), ranking, label, top, *runner_up)
    return IntentResult(None, round(top, 4) if label in intents else 0.0, ranking, label, top, *runner_up)


@cache
def classifier(lang: str) -> IntentClassifier:
    with _lock:
        return IntentClassifier(lang)
