"""The experiment's board: every study's trial states in one query.

A worker looks at the board before each piece of work. Loading every trial with its attributes
through Optuna costs milliseconds per study; this reads only (study, trial id, number, state)
from Optuna's own trial table, through its SQLAlchemy model, for all studies at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy
from optuna.storages import RDBStorage
from optuna.storages._rdb.models import TrialModel
from optuna.trial import TrialState


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


def read_board(storage: RDBStorage, study_ids: Iterable[int]) -> dict[int, StudyBoard]:
    """COMPLETE and RUNNING counts and the WAITING tickets (by number) of each study."""
    ids = list(study_ids)
    out = {i: StudyBoard() for i in ids}
    t = TrialModel.__table__
    query = sqlalchemy.select(t.c.study_id, t.c.trial_id, t.c.number, t.c.state).where(
        t.c.study_id.in_(ids), t.c.state.in_([TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING])
    )
    with storage.engine.connect() as conn:
        for study_id, trial_id, number, state in conn.execute(query):
            board = out[study_id]
            if state == TrialState.COMPLETE:
                board.complete += 1
            elif state == TrialState.RUNNING:
                board.running += 1
            else:
                board.waiting.append(Ticket(number, trial_id))
    for board in out.values():
        board.waiting.sort()
    return out
