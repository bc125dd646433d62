"""Reply perplexity: exp of the token-weighted mean NLL over reply tokens only."""

import math

from rugpt_chitchat.errors import DataError
from rugpt_chitchat.evaluation import metrics


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
        total_tokens = sum(reply_tokens)
        if total_tokens <= 0:
            raise DataError("reply_perplexity", "no reply tokens to score: every reply_tokens count is 0")
        loss = sum(reply_nll) / total_tokens
        # a diverging run's loss can pass 709, where exp overflows a float: its perplexity is inf, not a crash
        return {"loss": loss, "perplexity": math.exp(loss) if loss < 709 else math.inf}
