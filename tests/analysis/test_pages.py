"""Analysis pages: rendered for analysts with the figure, its numbers and downloads; refused to others."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_passwords"),
]

PAGES = [
    ("analysis:progression", {"outcome": "umn_total", "by": "group"}, "plot-progression"),
    ("analysis:survival", {"event": "death", "by": "site"}, "plot-survival-forest"),
    ("analysis:diagnostic", {"marker": "band_contrast"}, "plot-diagnostic"),
    ("analysis:band-umn", {}, "plot-band-umn"),
    ("analysis:harmonization", {}, "plot-harmonization"),
]


@pytest.fixture
def browser(users):
    def login(name):
        client = Client()
        client.force_login(users[name])
        return client

    return login


@pytest.mark.parametrize(("url_name", "params", "plot_id"), PAGES)
def test_pages_render_the_figure_numbers_and_downloads(browser, cohort, url_name, params, plot_id):
    response = browser("investigator").get(reverse(url_name), params)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="{plot_id}"' in html and f'id="{plot_id}-data"' in html
    assert reverse("analysis:plotly-js") in html
    assert "cdn.plot.ly" not in html and "cdn.jsdelivr" not in html
    assert "Download SVG" in html and "format=csv" in html
    assert "<caption>" in html  # the numbers, as an accessible table


def test_progression_page_shows_the_slopes(browser, cohort):
    html = browser("data_manager").get(reverse("analysis:progression")).content.decode()
    assert "Slope of umn_total per month by group" in html
    assert "ALS" in html and "CONTROL" in html and "p = " in html


def test_csv_download_holds_the_plotted_data(browser, cohort):
    response = browser("investigator").get(
        reverse("analysis:progression"), {"outcome": "band_contrast", "format": "csv"}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 34 and {"subject", "months", "band_contrast", "group"} <= set(rows[0])


def test_subject_timeline_page(browser, cohort):
    response = browser("investigator").get(reverse("analysis:subject", args=["EDM-0001"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="plot-timeline"' in html and "death" in html
    assert (
        browser("investigator").get(reverse("analysis:subject", args=["NOPE"])).status_code == 404
    )


def test_dashboard_links_every_page(browser, cohort):
    html = browser("admin").get(reverse("analysis:dashboard")).content.decode()
    for url_name, _, _ in PAGES:
        assert reverse(url_name) in html


def test_too_little_data_is_explained_not_an_error(browser, cohort):
    response = browser("investigator").get(reverse("analysis:progression"), {"by": "mbs_baseline"})
    assert response.status_code == 200
    assert "Not enough data" in response.content.decode()


def test_invalid_filter_is_shown_on_the_form(browser, cohort):
    response = browser("investigator").get(reverse("analysis:progression"), {"outcome": "grip"})
    assert response.status_code == 400
    assert "&quot;grip&quot; is not a known outcome; choose one of umn_total" in (
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("page", "endpoint", "query", "field"),
    [
        ("analysis:progression", "progression", {"outcome": "grip"}, "outcome"),
        ("analysis:survival", "survival", {"covariates": "age,shoe_size"}, "covariates"),
        (
            "analysis:diagnostic",
            "diagnostic",
            {"positive": "ALS", "negative": "ALS,CONTROL"},
            "negative",
        ),
        ("analysis:diagnostic", "diagnostic", {"visit_code": "V1,V2"}, "visit_code"),
    ],
)
def test_page_and_api_refuse_parameters_with_one_message(
    browser, cohort, page, endpoint, query, field
):
    """The pages validate through analysis.parameters, like the API: one rule, one message."""
    from html import unescape

    client = browser("investigator")
    api = client.get(f"/api/v1/analysis/{endpoint}/", query)
    assert api.status_code == 400
    (message,) = api.json()[field]
    response = client.get(reverse(page), query)
    assert response.status_code == 400
    assert message in unescape(response.content.decode())


@pytest.mark.parametrize("name", ["rater", "coordinator"])
def test_pages_are_refused_to_other_roles(browser, cohort, name):
    for url_name in ["analysis:dashboard", *(p[0] for p in PAGES)]:
        assert browser(name).get(reverse(url_name)).status_code == 403
    assert browser(name).get(reverse("analysis:subject", args=["EDM-0001"])).status_code == 403


def test_anonymous_is_sent_to_login(cohort):
    response = Client().get(reverse("analysis:progression"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_plotly_js_is_served_locally_and_cached(db):
    response = Client().get(reverse("analysis:plotly-js"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age" in response["Cache-Control"]
    body = response.content
    assert len(body) > 1_000_000 and b"plotly.js v" in body[:200]
    again = Client().get(reverse("analysis:plotly-js"), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_default_survival_page_shows_no_degenerate_model_as_a_finding(browser, cohort):
    """Controls cannot die of ALS: the default survival by group separates completely. The page
    says why the Cox model is not estimated instead of a hazard ratio of ~0 with an empty CI,
    and never renders an interval as "( to )"."""
    from html import unescape

    response = browser("investigator").get(reverse("analysis:survival"), {"groups": "ALS,CONTROL"})
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "( to )" not in page and " to )" not in page and "( to " not in page
    assert "Not estimated: see the notes below." in page
    assert "group = CONTROL" in page
    assert "not estimable" in page  # the controls' median: no event, no median
