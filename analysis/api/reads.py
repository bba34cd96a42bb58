"""Reviewers' API of the blinded reads: consensus, adjudication queue and inter-rater agreement.

Investigators, data managers and admins (unblinded) only; the reads are written through
imaging's API.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import cache, reads
from core import roles
from core.api.schema import StudyAutoSchema
from core.api.viewsets import AUTHENTICATION_CLASSES, StudyModelViewSet
from imaging import reading
from imaging.api.permissions import Adjudicator, ReadReviewer
from imaging.models import Adjudication, ReadOutcome, Scan, ScanKind


class KappaPairSerializer(serializers.Serializer):
    rater_a = serializers.CharField()
    rater_b = serializers.CharField()
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa, linear weights.")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    se = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField(help_text="Scan hemispheres graded by both raters.")
    percent_agreement = serializers.FloatField(help_text="Exact agreement, 0-100.")
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Why an interval is null (one grade used, perfect agreement, one rater, ...).",
    )


class FleissSerializer(serializers.Serializer):
    kappa = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    se = serializers.FloatField(allow_null=True)
    n_items = serializers.IntegerField()
    n_raters = serializers.IntegerField()
    percent_agreement = serializers.FloatField()
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class RaterCountSerializer(serializers.Serializer):
    rater = serializers.CharField()
    count = serializers.IntegerField()


class NonDiagnosticCountSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Current non-diagnostic reads left out.")
    by_rater = RaterCountSerializer(many=True)


class AgreementSerializer(serializers.Serializer):
    n_scans = serializers.IntegerField(help_text="Scans with at least one graded read.")
    n_items = serializers.IntegerField(help_text="Scan hemispheres with at least one graded read.")
    n_raters = serializers.IntegerField()
    pairs = KappaPairSerializer(many=True)
    fleiss = FleissSerializer(
        allow_null=True, help_text="Fleiss' kappa (bootstrap 95% CI); null with too few items."
    )
    mean_pairwise_kappa = serializers.FloatField(allow_null=True)
    non_diagnostic = NonDiagnosticCountSerializer(
        help_text="Non-diagnostic reads, which have no grade and are left out of every kappa."
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Why an interval is null (one grade used, perfect agreement, one rater, ...), "
        "and how many non-diagnostic reads were left out.",
    )


class ConsensusReadSerializer(serializers.Serializer):
    read = serializers.IntegerField()
    rater = serializers.CharField()
    outcome = serializers.ChoiceField(choices=ReadOutcome.choices)
    non_diagnostic_reason = serializers.CharField(allow_blank=True)
    non_diagnostic_detail = serializers.CharField(allow_blank=True)
    left_grade = serializers.IntegerField(allow_null=True)
    right_grade = serializers.IntegerField(allow_null=True)
    confidence = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)


class ConsensusSerializer(serializers.Serializer):
    scan = serializers.IntegerField(source="scan_id")
    scan_code = serializers.CharField()
    left_consensus = serializers.FloatField(source="left", allow_null=True)
    right_consensus = serializers.FloatField(source="right", allow_null=True)
    mbs_positive = serializers.BooleanField(allow_null=True)
    left_spread = serializers.IntegerField(help_text="Highest minus lowest left grade.")
    right_spread = serializers.IntegerField(help_text="Highest minus lowest right grade.")
    awaiting_adjudication = serializers.BooleanField(
        help_text="Raters more than one grade apart, or graded reads no majority beside "
        "non-diagnostic ones, and no final read yet: no consensus."
    )
    n_graded = serializers.IntegerField(help_text="Current graded reads.")
    n_non_diagnostic = serializers.IntegerField(help_text="Current non-diagnostic reads.")
    non_diagnostic = serializers.BooleanField(
        help_text="Every current read is non-diagnostic: the scan has no consensus."
    )
    non_diagnostic_reasons = serializers.ListField(child=serializers.CharField())
    adjudication = serializers.DictField(
        allow_null=True, help_text="The final read that replaces the consensus, if any."
    )
    reads = ConsensusReadSerializer(many=True)


GRADE_HELP = "MBS grade of the hemisphere: 0 no band, 1 partial band, 2 definite band."


class AdjudicationSerializer(serializers.ModelSerializer):
    """The final read of a scan whose raters disagree by more than one grade, or split between
    graded and non-diagnostic reads (contract: ``adjudications/``); it replaces the consensus for
    that scan. A final read is always graded (never non-diagnostic)."""

    scan: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        queryset=Scan.objects.filter(kind=ScanKind.SWI), help_text="The scan's id."
    )
    scan_code = serializers.CharField(source="scan.code", read_only=True)
    left_grade = serializers.IntegerField(min_value=0, max_value=2, help_text=GRADE_HELP)
    right_grade = serializers.IntegerField(min_value=0, max_value=2, help_text=GRADE_HELP)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    adjudicator = serializers.CharField(source="adjudicator.username", read_only=True)
    reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Why a final read changes (required to correct one).",
    )

    class Meta:
        model = Adjudication
        fields = [
            "id",
            "scan",
            "scan_code",
            "left_grade",
            "right_grade",
            "comment",
            "adjudicator",
            "created_at",
            "version",
            "reason",
        ]
        read_only_fields = ["created_at", "version"]


class FinalReadViewSet(StudyModelViewSet[Adjudication]):
    """Final reads of scans whose raters disagree by more than one grade in a hemisphere
    (investigators, data managers and admins, who are unblinded). Correct one with a reason."""

    serializer_class = AdjudicationSerializer
    permission_classes = [Adjudicator]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Adjudication]:
        if not roles.can_review_reads(self.request.user):
            return Adjudication.objects.none()
        return Adjudication.objects.select_related("scan", "adjudicator").order_by("pk")

    def create_record(self, data: dict[str, Any], *, reason: str) -> Adjudication:
        return reading.adjudication_save(
            user=self.request.user,
            scan=data["scan"],
            left_grade=data["left_grade"],
            right_grade=data["right_grade"],
            comment=data.get("comment", ""),
        )

    def update_record(
        self,
        instance: Adjudication,
        data: dict[str, Any],
        *,
        reason: str,
        expected_version: int | None,
    ) -> Adjudication:
        if data.get("scan", instance.scan) != instance.scan:
            raise DjangoValidationError({"scan": "A final read stays with its scan."})
        return reading.adjudication_save(
            user=self.request.user,
            scan=instance.scan,
            left_grade=data.get("left_grade", instance.left_grade),
            right_grade=data.get("right_grade", instance.right_grade),
            comment=data.get("comment", instance.comment),
            reason=reason,
            expected_version=expected_version,
        )


class AgreementView(APIView):
    """Inter-rater agreement of the current reads (each scan hemisphere is one graded item):
    Cohen's weighted kappa (linear weights) with 95% CI for each rater pair, Fleiss' kappa with a
    bootstrap 95% CI, and percent agreement. Investigators, data managers and admins."""

    permission_classes = [ReadReviewer]
    authentication_classes = AUTHENTICATION_CLASSES
    schema = StudyAutoSchema()

    @extend_schema(responses={200: AgreementSerializer}, summary="Inter-rater agreement")
    def get(self, request: Request) -> Response:
        answer = cache.answer(
            "api.agreement",
            user=request.user,
            params={},
            compute=lambda: dict(AgreementSerializer(reads.agreement_report()).data),
        )
        return Response(answer)


class AdjudicationViewSet(viewsets.GenericViewSet):
    """Scans waiting for adjudication: raters more than one grade apart in a hemisphere and no
    final read yet, with every current read. Investigators, data managers and admins."""

    serializer_class = ConsensusSerializer
    permission_classes = [ReadReviewer]
    authentication_classes = AUTHENTICATION_CLASSES
    schema = StudyAutoSchema()
    filter_backends: list[Any] = []

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(reads.adjudication_queue())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ConsensusViewSet(AdjudicationViewSet):
    """Consensus grades (median over raters per hemisphere) and MBS status of every read scan.
    Investigators, data managers and admins."""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(reads.consensus_list())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
