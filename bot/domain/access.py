"""Who the current person is and what their roles allow, checked on every command and button."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from models import Person, Role, RoleKind


@dataclass
class Actor:
    """The person behind an update, with their active roles and admin flag."""

    person: Person
    is_admin: bool = False
    language: str = "ru"
    roles: list[Role] = field(default_factory=list)

    @classmethod
    def of(cls, person: Person, *, is_admin: bool, language: str) -> Actor:
        return cls(
            person=person,
            is_admin=is_admin,
            language=language,
            roles=[role for role in person.roles if role.active],
        )

    def has(self, kind: RoleKind, programme_id: int | None = None) -> bool:
        return any(
            role.kind == kind and (programme_id is None or role.programme_id == programme_id)
            for role in self.roles
        )

    def programmes(self, kind: RoleKind) -> list[int]:
        return sorted({role.programme_id for role in self.roles if role.kind == kind})

    def role(self, kind: RoleKind, programme_id: int) -> Role | None:
        for role in self.roles:
            if role.kind == kind and role.programme_id == programme_id:
                return role
        return None

    def coordinates(self, programme_id: int) -> bool:
        """Coordinators run their programmes; admins may act anywhere."""
        return self.is_admin or self.has(RoleKind.coordinator, programme_id)

    def mentors(self, programme_id: int) -> bool:
        return self.has(RoleKind.mentor, programme_id)

    def kinds(self) -> set[RoleKind]:
        return {role.kind for role in self.roles}

    def any_of(self, kinds: Iterable[RoleKind]) -> bool:
        wanted = set(kinds)
        return bool(self.kinds() & wanted)
