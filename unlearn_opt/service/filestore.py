"""The artifact store in a folder, with writes that become visible only when complete.

Optuna's ``FileSystemArtifactStore`` writes straight into ``FOLDER/ID``: a process killed half-way
(``kill -9``, a node lost) leaves a truncated file under the artifact's name for good. Here the
bytes go to a hidden ``.ID.*.partial`` file in the same folder, are flushed to disk, and only
then renamed to ``ID`` (``os.replace``: atomic within a file system). A reader sees the whole
artifact or none; a killed writer leaves only a ``.partial`` file, which no artifact id names.
Each write removes the ``.partial`` files that have not been touched for ``STALE_PARTIAL_S``
(a day: far longer than any checkpoint upload), so killed writers do not pile up on the disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import BinaryIO

from optuna.artifacts.exceptions import ArtifactNotFound

STALE_PARTIAL_S = 24 * 3600.0
"""Seconds since a ``.partial`` file was last written after which its writer is taken to be dead."""


class AtomicFileStore:
    """Optuna's artifact-store protocol on a folder (``open_reader``, ``write``, ``remove``)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, artifact_id: str) -> Path:
        """The file of ``artifact_id``: a plain name inside the folder (ids are UUIDs)."""
        if not artifact_id or artifact_id != Path(artifact_id).name or artifact_id.startswith("."):
            raise ValueError(f"invalid artifact id {artifact_id!r}")
        return self.folder / artifact_id

    def open_reader(self, artifact_id: str) -> BinaryIO:
        try:
            return open(self._path(artifact_id), "rb")
        except FileNotFoundError as exc:
            raise ArtifactNotFound(f"artifact {artifact_id} not found in {self.folder}") from exc

    def remove_stale_partials(self, *, older_than_s: float = STALE_PARTIAL_S) -> int:
        """Delete the ``.partial`` files untouched for ``older_than_s`` seconds; returns how many."""
        cutoff, removed = time.time() - older_than_s, 0
        for path in self.folder.glob(".*.partial"):
            with contextlib.suppress(OSError):  # gone already, or not ours to delete
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        final = self._path(artifact_id)
        self.remove_stale_partials()
        partial = self.folder / f".{artifact_id}.{uuid.uuid4().hex}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(content_body, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise

    def remove(self, artifact_id: str) -> None:
        try:
            os.remove(self._path(artifact_id))
        except FileNotFoundError as exc:
            raise ArtifactNotFound(f"artifact {artifact_id} not found in {self.folder}") from exc
