"""Echo rate: how often the bot just repeats what the user said."""

import datasets
import evaluate

from rugpt_chitchat.data.cleaning import normalize_utterance

_DESCRIPTION = """\
Share of generated replies equal to the user's last utterance once both are normalised
(rugpt_chitchat.data.cleaning.normalize_utterance: case, ё/е, punctuation and spacing ignored).
"""

_INPUTS = """\
Args:
    predictions: generated replies.
    user_utterances: the user's utterance each reply answers.
Returns:
    echo_rate: 0-1.
"""


class EchoRate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "user_utterances": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, user_utterances):
        echoes = [
            normalize_utterance(reply) == normalize_utterance(user)
            for reply, user in zip(predictions, user_utterances)
        ]
        return {"echo_rate": sum(echoes) / len(echoes)}
