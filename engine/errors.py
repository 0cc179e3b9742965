"""Errors a user can fix, and the one-line form of any error. A message says what is wrong and what to do."""


class InputError(Exception):
    """Bad input or usage: the command line exits with status 2, Blender reports an error."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def first_line(error: BaseException | str, limit: int = 0) -> str:
    """The first non-empty line of an error's message (cut to `limit` characters if > 0), or the
    error's type name when it has no message."""
    text = str(error).strip()
    line = text.splitlines()[0].strip() if text else ""
    if limit and len(line) > limit:
        line = line[:limit].rstrip() + "..."
    if not line and isinstance(error, BaseException):
        return type(error).__name__
    return line
