"""Corpus BLEU by sacrebleu, one reference per reply."""

import sacrebleu

from rugpt_chitchat.evaluation import metrics


class Bleu(metrics.LocalMetric):
    DESCRIPTION = """\
Corpus BLEU (0-100) from sacrebleu with its default 13a tokenizer, which splits punctuation off
Cyrillic words as it does off Latin ones; case-sensitive, as standard BLEU.
"""
    INPUTS = """\
Args:
    predictions: generated replies.
    references: the reference reply for each, one per prediction.
Returns:
    bleu: corpus BLEU on the 0-100 scale.
"""
    CITATION = "Post, 2018. A Call for Clarity in Reporting BLEU Scores."
    COLUMNS = {"predictions": "string", "references": "string"}

    def _compute(self, predictions, references):
        return {"bleu": sacrebleu.corpus_bleu(predictions, [references]).score}
