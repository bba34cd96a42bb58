"""Query API serializers: field shapes only; the services decide every rule and transition."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cohort.api.serializers import REASON_HELP, VersionedSerializer, version_field
from queries.models import DataQuery, QueryStatus
from queries.records import RecordType

TEXT_MAX = 4000


class DataQuerySerializer(VersionedSerializer):
    record_type = serializers.ChoiceField(choices=RecordType.choices)
    record_id = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The id of the record queried."
    )
    field = serializers.CharField(
        max_length=64, help_text="One of the record's editable fields (e.g. `date`, `q3`)."
    )
    message = serializers.CharField(max_length=TEXT_MAX, help_text="The question to the site.")
    status = serializers.ChoiceField(
        choices=QueryStatus.choices,
        required=False,
        help_text="Changing it is a step of the workflow: `answered` (with `answer`), `closed` "
        "(with `reason` while unanswered), `open` (reopen, with a new `message`).",
    )
    answer = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, help_text="The site's answer."
    )
    site: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="The record's site code."
    )
    subject: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="study_id",
        read_only=True,
        allow_null=True,
        help_text="The record's subject (study id); null once the subject is deleted.",
    )
    opened_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Who opened it (username); null for an automatic check.",
    )
    answered_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Who answered it (username); null until answered.",
    )
    closed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Who closed it (username); null until closed.",
    )
    check = serializers.CharField(
        source="check_name",
        read_only=True,
        help_text="The automatic check that opened the query (empty for a person's).",
    )

    class Meta:
        model = DataQuery
        fields = [
            "id",
            "record_type",
            "record_id",
            "field",
            "message",
            "status",
            "answer",
            "opened_by",
            "opened_at",
            "answered_by",
            "answered_at",
            "closed_by",
            "closed_at",
            "site",
            "subject",
            "auto",
            "check",
            "version",
            "reason",
        ]
        read_only_fields = ["opened_at", "answered_at", "closed_at", "auto"]


class AnswerSerializer(serializers.Serializer):
    answer = serializers.CharField(
        max_length=TEXT_MAX,
        allow_blank=True,
        help_text="What the site checked, and what it corrected (if anything).",
    )
    version = version_field()


class CloseSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="Needed to close a query the site has not answered. " + REASON_HELP,
    )
    version = version_field()


class ReopenSerializer(serializers.Serializer):
    message = serializers.CharField(
        max_length=TEXT_MAX, allow_blank=True, help_text="The new message to the site."
    )
    version = version_field()
