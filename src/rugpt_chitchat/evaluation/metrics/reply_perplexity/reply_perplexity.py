"""Reply perplexity: exp of the token-weighted mean NLL over reply tokens only."""

import datasets
import evaluate

from rugpt_chitchat.scoring import perplexity

_DESCRIPTION = """\
Perplexity of the bot's replies. Each sample gives the summed negative log-likelihood of its reply
tokens and their count; the loss is sum(nll) / sum(tokens), so long replies weigh as many tokens as
they have, exactly as the training loss does (a mean of per-sample perplexities would not).
"""

_INPUTS = """\
Args:
    reply_nll: per sample, the summed NLL (natural log) of the reply tokens.
    reply_tokens: per sample, how many reply tokens that sum covers.
Returns:
    loss: mean NLL per reply token; perplexity: exp(loss).
"""


class ReplyPerplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {"reply_nll": datasets.Value("float64"), "reply_tokens": datasets.Value("int64")}
            ),
        )

    def _compute(self, reply_nll, reply_tokens):
        return perplexity(reply_nll, reply_tokens)
