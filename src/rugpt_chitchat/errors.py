"""The library's own exceptions: bad input, raised where data enters, and a training run that diverged."""

from pathlib import Path


class DataError(ValueError):
    """Bad input: names the file (or source), the record and/or line, and what is wrong."""

    def __init__(self, source, problem: str, record: int | None = None, line: int | None = None):
        self.source = str(source)
        self.record = record
        self.line = line
        self.problem = problem
        where = self.source
        if record is not None:
            where += f", record {record}"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {problem}")


class TrainingDiverged(RuntimeError):
    """The weights went non-finite: every later step and checkpoint would be worthless."""


def not_loadable(name: str, what: str, error: Exception) -> DataError:
    """The DataError for a `from_pretrained` name that is neither a usable directory nor reachable on the Hub."""
    path = Path(name).expanduser()
    cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if path.is_dir():
        return DataError(name, f"this directory holds no loadable {what} ({cause}); give a directory written by "
                         "save_pretrained (a checkpoint, or the output of training) or a Hub name")
    if path.exists():
        return DataError(name, f"is a file; a {what} is a directory written by save_pretrained, or a Hub name")
    from .hub import offline_note

    offline = offline_note()
    return DataError(name, f"no such directory, and no {what} by that name could be loaded from the Hugging Face Hub"
                     f"{offline} nor its local cache ({cause}); check the path, or load the name once while online")
