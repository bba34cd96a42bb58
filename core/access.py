"""Recording the access log (``core.models.AccessEvent``): the one function every view calls.

Call ``record_access`` wherever someone reaches data that leaves the study or names a person::

    from core.access import record_access
    from core.models import AccessAction

    record_access(request, AccessAction.EXPORT, target=f"release:{release.pk}", format="csv")
    record_access(request, AccessAction.DOWNLOAD, target=f"scan:{scan.code}", kind=scan.kind)
    record_access(request, AccessAction.VIEW_IDENTIFIABLE, target=f"subject:{subject.study_id}")

Targets are ``kind:name``: ``subject:EDM-0001``, ``visit:EDM-0001/V2``, ``scan:<code>``,
``release:<id>``, ``analysis:<page>``, ``directory:<path>`` and ``file:<path>`` (commands).
Where they are recorded: the subject, visit and diagnoses pages and the subject's API answer
(view_identifiable); scan files, the raters' de-identified images and release zips (download);
releases, the analysis pages' CSV and ``export_study`` (export); ``import_study``,
``import_redcap`` and ``restore_study`` (import). Commands record ``core.commands.COMMAND_LINE``
as the username unless an option names the account they act for.

The first argument is the request (a Django ``HttpRequest`` or a DRF ``Request``: the signed-in
user, token users included, and the client address are taken from it), a user (a command or a
worker acting for someone; no address), or None (the system). ``action`` is one of
``AccessAction``; ``target`` says what was reached, in words an auditor reads; further keyword
arguments go into the event's JSON ``detail`` (keep them small and free of secrets). ``user=`` and
``username=`` name the account when the request's user is not the one (a login, a failed login).
The event is written in the caller's transaction: an export that rolls back leaves no event.

Logins, failed logins (form, admin and token endpoint) and logouts are recorded here from Django's
authentication signals (connected in ``core.apps``); token creation and revocation by
``core.tokens``. The client address is the one django-axes throttles by (its ``AXES_IPWARE_*``
settings, from ``MOTORBAND_TRUSTED_PROXY_HEADER``), else the socket's.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.helpers import get_client_ip_address
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest
from rest_framework.request import Request

from core.models import AccessAction, AccessEvent

RequestLike = HttpRequest | Request
Who = RequestLike | AbstractBaseUser | AnonymousUser | None


def client_address(request: RequestLike) -> str | None:
    """The client's IP address as django-axes sees it (the trusted proxy's header when one is
    configured), falling back to REMOTE_ADDR; None when neither is an IP address."""
    for candidate in (get_client_ip_address(request), request.META.get("REMOTE_ADDR")):
        if candidate:
            try:
                return str(ipaddress.ip_address(str(candidate).strip()))
            except ValueError:
                continue
    return None


def _is_request(who: object) -> bool:
    return isinstance(who, HttpRequest | Request)


def record_access(
    who: Who,
    action: AccessAction | str,
    target: object = "",
    *,
    user: AbstractBaseUser | None = None,
    username: str | None = None,
    **detail: Any,
) -> AccessEvent:
    """Append one event to the access log and return it (see the module docstring)."""
    action = AccessAction(action)  # a ValueError names an unknown action at once
    address = None
    if _is_request(who):
        request: Any = who
        address = client_address(request)
        if user is None:
            user = getattr(request, "user", None)
    elif user is None and isinstance(who, AbstractBaseUser | AnonymousUser):
        user = who  # type: ignore[assignment]
    account: Any = user if user is not None and user.is_authenticated else None
    if username is None:
        username = account.get_username() if account is not None else ""
    return AccessEvent.objects.create(
        user=account,
        username=username[:150],
        action=action,
        target=str(target),
        detail=detail,
        client_address=address,
    )


# --- authentication signals -------------------------------------------------------------------


def _path(request: Any) -> str:
    return str(getattr(request, "path", "") or "")


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None:
        record_access(user, AccessAction.LOGIN)
    else:
        record_access(request, AccessAction.LOGIN, user=user, path=_path(request))


def _login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")
    account = (
        get_user_model()
        ._default_manager.filter(**{get_user_model().USERNAME_FIELD: username})
        .first()
    )
    detail: dict[str, Any] = {"path": _path(request)}
    if request is not None and getattr(request, "axes_locked_out", False):
        detail["locked_out"] = True
    record_access(
        request,
        AccessAction.LOGIN_FAILED,
        user=account,
        username=username,
        **detail,
    )


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:  # logging out without a session: nothing happened
        return
    record_access(request, AccessAction.LOGOUT, user=user, path=_path(request))


def connect_signals() -> None:
    """Record logins, failed logins and logouts (called once, from ``core.apps``)."""
    user_logged_in.connect(_logged_in, dispatch_uid="core.access.logged_in")
    user_login_failed.connect(_login_failed, dispatch_uid="core.access.login_failed")
    user_logged_out.connect(_logged_out, dispatch_uid="core.access.logged_out")
