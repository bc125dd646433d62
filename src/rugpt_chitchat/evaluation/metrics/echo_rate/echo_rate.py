"""Echo rate: how often the bot just repeats what the user said."""

from rugpt_chitchat.data.cleaning import normalize_utterance
from rugpt_chitchat.evaluation import metrics


class EchoRate(metrics.LocalMetric):
    DESCRIPTION = """\
Share of generated replies equal to the user's last utterance once both are normalised
(rugpt_chitchat.data.cleaning.normalize_utterance: case, ё/е, punctuation and spacing ignored).
"""
    INPUTS = """\
Args:
    predictions: generated replies.
    user_utterances: the user's utterance each reply answers.
Returns:
    echo_rate: 0-1.
"""
    COLUMNS = {"predictions": "string", "user_utterances": "string"}

    def _compute(self, predictions, user_utterances):
        echoes = [
            normalize_utterance(reply) == normalize_utterance(user)
            for reply, user in zip(predictions, user_utterances)
        ]
        return {"echo_rate": sum(echoes) / len(echoes)}
