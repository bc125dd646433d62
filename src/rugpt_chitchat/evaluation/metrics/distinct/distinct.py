"""Distinct-1/2: how varied the generated replies are, word-level."""

from rugpt_chitchat.data.cleaning import normalize_utterance
from rugpt_chitchat.evaluation import metrics


def _ngrams(words, n):
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def _distinct(replies, n):
    grams = [gram for words in replies for gram in _ngrams(words, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


class Distinct(metrics.LocalMetric):
    DESCRIPTION = """\
Distinct-n (Li et al., 2016): unique word n-grams / all word n-grams over all replies together;
n-grams do not cross reply boundaries. Words as in ROUGE: \\w+ runs, lowercased, ё read as е.
"""
    INPUTS = """\
Args:
    predictions: generated replies.
Returns:
    distinct_1, distinct_2: 0-1; 0 when the replies hold no n-gram of that size.
"""
    CITATION = "Li et al., 2016. A Diversity-Promoting Objective Function for Neural Conversation Models."
    COLUMNS = {"predictions": "string"}

    def _compute(self, predictions):
        replies = [normalize_utterance(text).split() for text in predictions]
        return {"distinct_1": _distinct(replies, 1), "distinct_2": _distinct(replies, 2)}
