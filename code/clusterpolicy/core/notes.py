"""Warnings as notes: what a library warns about is kept for the reader, not sent to stderr.

A chapter may not write to stderr (the book builds with warnings as errors), and what an
estimation had to say belongs in its results' ``notes``, where the reader sees it. Every
estimator of the package turns the warnings raised inside it into notes with
:func:`warnings_to_notes`; :func:`caught_warnings` is the primitive underneath, for code that
wants the messages themselves.

Rules shared by both: a warning becomes one line, its message with the whitespace collapsed (the
warning's class is for developers: the reader is told what happened, and where, not how Python
classified it); deprecation and future warnings concern the developers, not the reader,
and are dropped; a repeated line is kept once.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["caught_warnings", "warnings_to_notes"]


@contextmanager
def caught_warnings() -> Iterator[list[str]]:
    """Catch the warnings raised inside the block and hand them over as one-line messages.

    Yields
    ------
    list of str
        Filled when the block ends: one line per distinct warning (its message),
        in the order raised, deprecation and future warnings left out.

    Examples
    --------
    >>> import warnings
    >>> with caught_warnings() as messages:
    ...     warnings.warn("fragmented   frame", RuntimeWarning)
    >>> messages
    ['fragmented frame']
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    for item in caught:
        if issubclass(item.category, DeprecationWarning | FutureWarning):
            continue
        message = " ".join(str(item.message).split())
        if message not in messages:
            messages.append(message)


@contextmanager
def warnings_to_notes(
    notes: list[str], source: str, *, explanations: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Record the warnings raised inside the block in ``notes`` instead of emitting them.

    Parameters
    ----------
    notes : list of str
        The results' notes; each new note is appended once (a note already there is not
        repeated).
    source : str
        What raised the warnings (a library and its function, or the estimation step), put in
        front of each note: ``"<source>: <message>"``.
    explanations : mapping of str to str, optional
        Known messages and what they mean for the reader: when a key occurs in the message,
        ``" (meaning: <explanation>)"`` is appended to the note (the first key that matches).

    Yields
    ------
    None
        ``notes`` is extended when the block ends.

    Examples
    --------
    >>> import warnings
    >>> notes = []
    >>> with warnings_to_notes(notes, "moderndid.att_gt", explanations={"small": "few units"}):
    ...     warnings.warn("small groups")
    >>> notes
    ['moderndid.att_gt: small groups (meaning: few units)']
    """
    with caught_warnings() as messages:
        yield
    for message in messages:
        note = f"{source}: {message}"
        explanation = next((text for key, text in (explanations or {}).items() if key in message), None)
        if explanation:
            note += f" (meaning: {explanation})"
        if note not in notes:
            notes.append(note)
