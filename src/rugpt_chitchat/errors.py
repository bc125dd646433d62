"""The library's own exceptions: bad input, raised where data enters, and a training run that diverged."""


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
