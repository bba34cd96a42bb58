"""Template filters of the cohort pages: the navigation's current link and score display."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def startswith(value: str, prefix: str) -> bool:
    return str(value).startswith(prefix)


@register.filter
def score(value: Any, maximum: Any = None) -> str:
    """``7`` -> ``7``, ``7|score:12`` -> ``7/12``; a missing score reads as an em dash."""
    if value is None or value == "":
        return "—"
    return f"{value}/{maximum}" if maximum not in (None, "") else str(value)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


@register.inclusion_tag("cohort/_errors.html")
def error_summary(form: Any) -> dict[str, Any]:
    """A summary of a form's errors, each linking to its field and naming it in plain words."""
    from cohort.forms import field_title

    items: list[Any] = []
    if form is not None and form.errors:
        for name, errors in form.errors.items():
            if name == "__all__":
                items.extend({"anchor": None, "title": None, "message": e} for e in errors)
                continue
            bound = form[name] if name in form.fields else None
            anchor = None
            if bound is not None:
                # A radio group has no single label target: link its first radio.
                anchor = bound.id_for_label or f"{bound.auto_id}_0"
            title = field_title(form, name)
            items.extend({"anchor": anchor, "title": title, "message": e} for e in errors)
    return {"items": items}
