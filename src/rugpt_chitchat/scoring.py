"""Reply scoring, written once: each sample's summed reply NLL and token count, and the token-weighted
perplexity of such sums. Training's validation, pretraining, `evaluate`, the history probe and the
experiments all score with these two functions, so their figures mean the same thing."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import DataError
from .format import IGNORE_INDEX

if TYPE_CHECKING:
    import torch
    from transformers import EvalPrediction


def reply_nll_per_sample(logits: torch.Tensor | tuple, labels: torch.Tensor) -> torch.Tensor:
    """(batch, length, vocab) logits -> (batch, 2): summed NLL of the labelled tokens and their count.

    Passed as `preprocess_logits_for_metrics`, so evaluation gathers two numbers per sample instead of the
    logits, and the perplexity is weighted by tokens over the whole set and every process.
    """
    import torch
    import torch.nn.functional as F

    logits = logits[0] if isinstance(logits, tuple) else logits
    targets = labels[:, 1:]
    nll = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none")
    return torch.stack([nll.sum(dim=1), targets.ne(IGNORE_INDEX).sum(dim=1).float()], dim=1)


def perplexity(nll: Iterable[float], tokens: Iterable[float]) -> dict[str, float]:
    """`loss` = sum of NLL / sum of tokens (long replies weigh as many tokens as they have, as the training loss
    does; a mean of per-sample perplexities would not) and `perplexity` = exp(loss)."""
    total_tokens = sum(round(float(count)) for count in tokens)
    if total_tokens <= 0:
        raise DataError("reply_perplexity", "no reply tokens to score: every reply_tokens count is 0")
    loss = sum(float(value) for value in nll) / total_tokens
    # a diverging run's loss can pass 709, where exp overflows a float: its perplexity is inf, not a crash
    return {"loss": loss, "perplexity": math.exp(loss) if loss < 709 else math.inf}


def perplexity_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """The Trainer's `compute_metrics`: `perplexity` and `reply_loss` over all validation samples, from the
    (NLL, tokens) pairs `reply_nll_per_sample` gathered."""
    sums = prediction.predictions
    result = perplexity(sums[:, 0], sums[:, 1])
    return {"perplexity": result["perplexity"], "reply_loss": result["loss"]}
