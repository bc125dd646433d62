"""Mean reply length in words."""

import datasets
import evaluate

from rugpt_chitchat.data.cleaning import normalize_utterance

_DESCRIPTION = """\
Mean number of words per generated reply; words are \\w+ runs, so punctuation does not count.
"""

_INPUTS = """\
Args:
    predictions: generated replies.
Returns:
    reply_length_words: mean words per reply.
"""


class ReplyLength(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions):
        lengths = [len(normalize_utterance(text).split()) for text in predictions]
        return {"reply_length_words": sum(lengths) / len(lengths)}
