"""Errors a user can fix. Their message is one line that says what is wrong and what to do."""


class InputError(Exception):
    """Bad input or usage: the command line exits with status 2, Blender reports an error."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
