"""Roles and the actor a service works for: who they are and which townships they may see."""
from __future__ import annotations

from dataclasses import dataclass

CASEWORKER, SUPERVISOR, ADMIN = "caseworker", "supervisor", "admin"
# caseworker: the leads of their townships; supervisor: every township, assigns and transfers;
# admin: accounts and the audit log, no applicant's data.
ROLES = (CASEWORKER, SUPERVISOR, ADMIN)
ROLE_LABELS = {CASEWORKER: "乡镇经办人", SUPERVISOR: "县级督导", ADMIN: "系统管理员"}


@dataclass(frozen=True)
class Actor:
    """The person a service acts for. `townships` None: the whole county."""

    user_id: int | None
    username: str
    role: str
    townships: frozenset[str] | None = frozenset()

    @property
    def county_wide(self) -> bool:
        """Sees every township (supervisors)."""
        return self.townships is None

    @property
    def works_leads(self) -> bool:
        """May open leads at all (an admin manages accounts, not applicants)."""
        return self.role in (CASEWORKER, SUPERVISOR)

    @property
    def supervises(self) -> bool:
        """May assign and transfer leads."""
        return self.role == SUPERVISOR

    @property
    def administers(self) -> bool:
        """May manage accounts and read the audit log."""
        return self.role == ADMIN

    @property
    def label(self) -> str:
        """The audit log's name for this actor."""
        return self.username

    def sees(self, township: str | None) -> bool:
        """True when a lead of `township` is within this actor's scope."""
        if not self.works_leads:
            return False
        return self.county_wide or (township is not None and township in self.townships)
