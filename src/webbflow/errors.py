"""Errors that reach the user as one clear line."""


class WebbflowError(Exception):
    """An error the user can act on: the file concerned and the problem.

    Parameters
    ----------
    path : str or os.PathLike or None
        The file the problem is in (None when no single file is concerned).
    problem : str
        What is wrong, in words an astronomer recognises.
    """

    def __init__(self, path, problem):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(str(self))

    def __str__(self):
        if self.path is None:
            return self.problem
        return f"{self.path}: {self.problem}"


class InputError(WebbflowError):
    """An input file is unreadable, malformed or inconsistent."""


class ReferenceFileError(WebbflowError):
    """A reference file cannot be selected, found or read."""




class OutputError(WebbflowError):
    """A product cannot be written where it was asked for (a read-only or missing directory)."""
