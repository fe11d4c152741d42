"""Who asks for a guarded action: the one value every service in this package takes.

A `Caller` is the signed-in person (`team.access.Actor`) and the run registry whose audit trail
records the answer. `Caller()` is the machine's owner (the CLI and the single-user app), who may
do anything and is still audited, as 'owner'. The services check the caller before they call
the engine (`training.queue`, `runs.control`, `runs.registry`, the dataset and label stores),
which knows nothing about roles; every check leaves an audit row, allowed or refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from seg_core.runs.registry import RunRegistry
from seg_core.team import access


@dataclass(frozen=True)
class Caller:
    actor: access.Actor | None = None  # None: the machine's owner
    # None: the home's registry, opened when an action needs it (so a Caller made before the
    # home is known, or for an action that writes nothing, never creates one).
    registry: RunRegistry | None = None

    def opened(self) -> Caller:
        """This caller with its registry open, so one action's checks, audit rows and engine
        calls share it."""
        return self if self.registry is not None else replace(self, registry=RunRegistry())

    @property
    def runs(self) -> RunRegistry:
        return self.opened().registry

    def authorize(self, action: str, target: str | None = None, record: bool = True) -> None:
        """Allow `action` or raise AccessDenied; an audit row either way (`record=False`: only
        when refused, the caller records the allowed action itself)."""
        access.authorize(self.actor, action, self.runs, target=target, record=record)

    def record_outcome(
        self, action: str, outcome: str, target: str | None = None, detail: str | None = None
    ) -> None:
        """The audit row of an action authorized with `record=False`, once its outcome is known."""
        access.record_outcome(self.actor, action, self.runs, outcome, target=target, detail=detail)

    def authorize_on_run(self, action: str, run_id: str) -> None:
        """As `authorize`, for an action on a run: below admin, only on one's own runs."""
        registry = self.runs
        owner = access.run_owner(registry, run_id)
        access.authorize(self.actor, action, registry, target=run_id, owner=owner)

    def charge_upload(self, size_bytes: int, what: str) -> None:
        """Count an upload against the caller's daily quota (AccessDenied over it); the owner has
        none, and nothing is opened or written for them."""
        if self.actor is not None:
            access.charge_upload(self.actor, self.runs, size_bytes, what)

    # training.queue.Admission: the per-person limit, and who started the run.
    def admit(self, registry: RunRegistry) -> None:
        access.check_queue_limit(self.actor, registry, [r.id for r in registry.active()])

    def claim(self, registry: RunRegistry, run_id: str, detail: str) -> None:
        access.attribute_run(self.actor, registry, run_id, detail=detail)
