"""Errors of metadata extraction: written for the submitter who has to fix the upload."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileProblem:
    """Why one file's metadata could not be extracted."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


class MetadataError(Exception):
    """One or more files could not be read as the kind they were submitted as.

    Carries one :class:`FileProblem` per failing file, so that a client can show every
    problem at once instead of one per attempt.
    """

    def __init__(self, problems: list[FileProblem] | tuple[FileProblem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "metadata error")

    @classmethod
    def for_file(cls, file: str, reason: str) -> MetadataError:
        return cls([FileProblem(file, reason)])


class UnknownKind(ValueError):
    """The evidence kind is not one this service knows how to describe."""
