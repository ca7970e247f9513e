"""The one exception type the CLI turns into a one-line, actionable error."""


class PipelineError(Exception):
    """Something the operator can fix: the message says what is wrong and what to do next."""
