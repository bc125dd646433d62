"""ROUGE-1/2/L F1 with a tokenizer that keeps Cyrillic words."""

from rouge_score import rouge_scorer, tokenizers

from rugpt_chitchat.data.cleaning import normalize_utterance
from rugpt_chitchat.evaluation import metrics

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class UnicodeWordTokenizer(tokenizers.Tokenizer):
    """Words of any script: lowercased, ё as е, punctuation dropped."""

    def tokenize(self, text):
        return normalize_utterance(text).split()


class Rouge(metrics.LocalMetric):
    DESCRIPTION = """\
ROUGE-1, ROUGE-2 and ROUGE-L F1 from rouge_score, averaged over pairs. rouge_score's default
tokenizer keeps only [a-z0-9] and so erases Russian text entirely; here words are the \\w+ runs of
the text lowercased with ё read as е (rugpt_chitchat.data.cleaning.normalize_utterance).
"""
    INPUTS = """\
Args:
    predictions: generated replies.
    references: the reference reply for each, one per prediction.
Returns:
    rouge1, rouge2, rougeL: mean F1 over the pairs, 0-1.
"""
    CITATION = "Lin, 2004. ROUGE: A Package for Automatic Evaluation of Summaries."
    COLUMNS = {"predictions": "string", "references": "string"}

    def _compute(self, predictions, references):
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=UnicodeWordTokenizer())
        scores = [scorer.score(target=ref, prediction=pred) for pred, ref in zip(predictions, references)]
        return {name: sum(s[name].fmeasure for s in scores) / len(scores) for name in ROUGE_TYPES}
