"""What staff may edit in radcheck and radreply by hand, and how those rows are shown and searched.

A subscriber's credentials and the rows the database renders from its plan, status and the tenant's
RADIUS policy (``ispops.radius.provisioning``, ``radius/sql/render.sql``) are not edited here; a
credential is never shown, nor found by a search of the values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.errors import ValidationFailed
from ispops.models import RadCheck, RadReply
from ispops.radius import provisioning

# RADIUS attributes that carry a credential: never shown, never edited here (credentials are
# provisioned from the subscriber).
PASSWORD_ATTRIBUTES = frozenset(
    {
        "Cleartext-Password",
        "NT-Password",
        "MD5-Password",
        "SHA-Password",
        "SHA1-Password",
        "Crypt-Password",
        "SSHA-Password",
        "SMD5-Password",
        "User-Password",
        "LM-Password",
    }
)


def _refuse_rendered(table: str, attribute: str, value: str) -> None:
    """Rows the database renders from the subscriber's plan, status and policy are not edited by hand."""
    if provisioning.is_managed(table, attribute, value):
        raise ValidationFailed(
            f"{table}.attribute: {attribute} is rendered from the subscriber's plan, status and RADIUS policy",
            table=table,
            field="attribute",
        )


def check_radcheck_update(obj: Any, data: dict[str, Any]) -> None:
    """``Resource.update_check`` of radcheck: neither a rendered row nor a credential."""
    _refuse_rendered("radcheck", obj.attribute, data.get("value", obj.value))
    if obj.attribute in PASSWORD_ATTRIBUTES:
        raise ValidationFailed(
            f"radcheck.attribute: {obj.attribute} is managed from the subscriber's credentials",
            table="radcheck",
            field="attribute",
        )


async def create_radcheck(session: AsyncSession, tenant_id: str, body: BaseModel) -> RadCheck:
    """``Resource.create_hook`` of radcheck."""
    data = body.model_dump(exclude_unset=True)
    if data.get("attribute") in PASSWORD_ATTRIBUTES:
        raise ValidationFailed(
            f"radcheck.attribute: {data['attribute']} is managed from the subscriber's credentials",
            table="radcheck",
            field="attribute",
        )
    _refuse_rendered("radcheck", data.get("attribute", ""), data.get("value", ""))
    obj = RadCheck(**data, tenant_id=tenant_id)
    session.add(obj)
    return obj


def check_radreply_update(obj: Any, data: dict[str, Any]) -> None:
    """``Resource.update_check`` of radreply: a rendered row stays as rendered, and none is made by hand."""
    _refuse_rendered("radreply", obj.attribute, obj.value)
    _refuse_rendered("radreply", data.get("attribute", obj.attribute), data.get("value", obj.value))


async def create_radreply(session: AsyncSession, tenant_id: str, body: BaseModel) -> RadReply:
    """``Resource.create_hook`` of radreply."""
    data = body.model_dump(exclude_unset=True)
    _refuse_rendered("radreply", data.get("attribute", ""), data.get("value", ""))
    obj = RadReply(**data, tenant_id=tenant_id)
    session.add(obj)
    return obj


def masked(row: dict[str, Any]) -> dict[str, Any]:
    """``Resource.serialize`` of radcheck: a credential's value is never shown."""
    if row["attribute"] in PASSWORD_ATTRIBUTES:
        return {**row, "value": "********"}
    return row


def radcheck_value_search(model: Any, pattern: str) -> ColumnElement[bool]:
    """A value is searched unless it is a credential: a search must not tell what a password contains."""
    return and_(model.attribute.not_in(PASSWORD_ATTRIBUTES), model.value.ilike(pattern, escape="\\"))
