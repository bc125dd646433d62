"""Reply perplexity: exp of the token-weighted mean NLL over reply tokens only."""

from rugpt_chitchat.evaluation import metrics
from rugpt_chitchat.scoring import perplexity


class ReplyPerplexity(metrics.LocalMetric):
    DESCRIPTION = """\
Perplexity of the bot's replies. Each sample gives the summed negative log-likelihood of its reply
tokens and their count; the loss is sum(nll) / sum(tokens), so long replies weigh as many tokens as
they have, exactly as the training loss does (a mean of per-sample perplexities would not).
"""
    INPUTS = """\
Args:
    reply_nll: per sample, the summed NLL (natural log) of the reply tokens.
    reply_tokens: per sample, how many reply tokens that sum covers.
Returns:
    loss: mean NLL per reply token; perplexity: exp(loss).
"""
    COLUMNS = {"reply_nll": "float64", "reply_tokens": "int64"}

    def _compute(self, reply_nll, reply_tokens):
        return perplexity(reply_nll, reply_tokens)
