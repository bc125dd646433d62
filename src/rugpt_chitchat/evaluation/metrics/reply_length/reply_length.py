"""Mean reply length in words."""

from rugpt_chitchat.data.cleaning import normalize_utterance
from rugpt_chitchat.evaluation import metrics


class ReplyLength(metrics.LocalMetric):
    DESCRIPTION = """\
Mean number of words per generated reply; words are \\w+ runs, so punctuation does not count.
"""
    INPUTS = """\
Args:
    predictions: generated replies.
Returns:
    reply_length_words: mean words per reply.
"""
    COLUMNS = {"predictions": "string"}

    def _compute(self, predictions):
        lengths = [len(normalize_utterance(text).split()) for text in predictions]
        return {"reply_length_words": sum(lengths) / len(lengths)}
