"""Who asks each golden question, on this computer or in a staged installation.

A golden question names its asker by `role` (a role of the pack's audience map) or by `profile`
(a local profile). The audiences each asker may read are taken from the audience map, not from
the grants, so the access check is independent of the code it checks; only when no map is known
is an asker checked against its own grants (and the report says so).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence

from desktop.engine.evaluation.errors import EvaluationError
from desktop.engine.evaluation.golden import GoldenQuestion
from desktop.engine.evaluation.runner import Asker
from desktop.engine.evaluation.staging import StagedRole
from desktop.engine.packs import demo
from desktop.engine.packs.build import AudienceMap


def demo_audience_map() -> AudienceMap:
    data = tomllib.loads(demo.AUDIENCES)
    return AudienceMap(
        default=str(data["default"]),
        rules=tuple((str(r["glob"]), str(r["audience"])) for r in data.get("rule", [])),
        roles={str(k): tuple(v) for k, v in data.get("roles", {}).items()},
    )


DEMO_PROFILE_ROLES: Mapping[str, tuple[str, ...]] = {
    profile: tuple(roles) for profile, (_user, roles) in demo.PROFILES.items()
}


def installed_askers(
    questions: Sequence[GoldenQuestion],
    role_profiles: Mapping[str, str],
    audience_map: AudienceMap | None,
    profile_roles: Mapping[str, Sequence[str]] = DEMO_PROFILE_ROLES,
) -> dict[str, Asker]:
    """Askers for the packs installed on this computer: a role asks under the profile
    `role_profiles` names for it; a profile asks as itself."""
    askers: dict[str, Asker] = {}
    for q in questions:
        if q.asker in askers:
            continue
        if q.role:
            if q.role not in role_profiles:
                raise EvaluationError(
                    f"Line {q.line}: no local profile asks as role '{q.role}'.",
                    f"Name one with --as {q.role}=PROFILE, or evaluate a built pack with --pack.",
                )
            roles: Sequence[str] | None = [q.role]
            profile = role_profiles[q.role]
        else:
            profile = q.profile
            roles = profile_roles.get(profile)
        readable = None
        if audience_map is not None and roles is not None:
            readable = frozenset(audience_map.audiences_for(list(roles)))
        askers[q.asker] = Asker(q.asker, profile, readable)
    return askers


def roles_needed(
    questions: Sequence[GoldenQuestion],
    profile_roles: Mapping[str, Sequence[str]] = DEMO_PROFILE_ROLES,
) -> dict[str, str]:
    """The role each asker stands for in a staged installation (asker key -> role)."""
    needed: dict[str, str] = {}
    for q in questions:
        if q.role:
            needed[q.asker] = q.role
            continue
        roles = profile_roles.get(q.profile)
        if not roles or len(roles) != 1:
            raise EvaluationError(
                f"Line {q.line}: profile '{q.profile or 'default'}' has no single role to stand "
                "for in a staged installation.",
                "Give the question a `role` from the workspace's audience map.",
            )
        needed[q.asker] = roles[0]
    return needed


def staged_askers(needed: Mapping[str, str], staged: Sequence[StagedRole]) -> dict[str, Asker]:
    by_role = {s.role: s for s in staged}
    return {
        key: Asker(key, by_role[role].profile, by_role[role].readable)
        for key, role in needed.items()
    }
