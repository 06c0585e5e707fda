"""The experiment's board: every study's trial states in one query.

A worker looks at the board before each piece of work. Loading every trial with its attributes
through Optuna costs milliseconds per study; this reads only (study, trial id, number, state)
from Optuna's own trial table (``optuna_adapter.trial_rows``), for all studies at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from optuna.storages import BaseStorage
from optuna.trial import TrialState

from unlearn_opt.service.optuna_adapter import trial_rows


@dataclass(frozen=True, order=True)
class Ticket:
    number: int
    trial_id: int


@dataclass
class StudyBoard:
    complete: int = 0
    running: int = 0
    waiting: list[Ticket] = field(default_factory=list)

    @property
    def active(self) -> int:
        return self.running + len(self.waiting)


def read_board(storage: BaseStorage, study_ids: Iterable[int]) -> dict[int, StudyBoard]:
    """COMPLETE and RUNNING counts and the WAITING tickets (by number) of each study."""
    ids = list(study_ids)
    out = {i: StudyBoard() for i in ids}
    for row in trial_rows(storage, ids, (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)):
        board = out[row.study_id]
        if row.state == TrialState.COMPLETE:
            board.complete += 1
        elif row.state == TrialState.RUNNING:
            board.running += 1
        else:
            board.waiting.append(Ticket(row.number, row.trial_id))
    for board in out.values():
        board.waiting.sort()
    return out
