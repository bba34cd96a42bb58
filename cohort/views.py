"""Cohort pages: the study at a glance."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cohort import roles, selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    context = {"role": roles.role_of(request.user)}
    if roles.has_role(request.user, roles.CLINICAL_READERS):
        context["overview"] = selectors.study_overview(user=request.user)
    return render(request, "cohort/home.html", context)
