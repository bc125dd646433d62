"""Corpus BLEU by sacrebleu, one reference per reply."""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = """\
Corpus BLEU (0-100) from sacrebleu with its default 13a tokenizer, which splits punctuation off
Cyrillic words as it does off Latin ones; case-sensitive, as standard BLEU.
"""

_INPUTS = """\
Args:
    predictions: generated replies.
    references: the reference reply for each, one per prediction.
Returns:
    bleu: corpus BLEU on the 0-100 scale.
"""


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Post, 2018. A Call for Clarity in Reporting BLEU Scores.",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        return {"bleu": sacrebleu.corpus_bleu(predictions, [references]).score}
