"""Reviewers' API of the blinded reads: consensus, adjudication queue and inter-rater agreement.

Investigators, data managers and admins (unblinded) only; the reads are written through
imaging's API.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import reads
from core.api.schema import StudyAutoSchema
from core.api.viewsets import AUTHENTICATION_CLASSES
from imaging.api.permissions import ReadReviewer


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


class AgreementSerializer(serializers.Serializer):
    n_scans = serializers.IntegerField()
    n_items = serializers.IntegerField(help_text="Scan hemispheres with at least one read.")
    n_raters = serializers.IntegerField()
    pairs = KappaPairSerializer(many=True)
    fleiss = FleissSerializer(
        allow_null=True, help_text="Fleiss' kappa (bootstrap 95% CI); null with too few items."
    )
    mean_pairwise_kappa = serializers.FloatField(allow_null=True)
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Why an interval is null (one grade used, perfect agreement, one rater, ...).",
    )


class ConsensusReadSerializer(serializers.Serializer):
    read = serializers.IntegerField()
    rater = serializers.CharField()
    left_grade = serializers.IntegerField()
    right_grade = serializers.IntegerField()
    confidence = serializers.IntegerField()
    comment = serializers.CharField(allow_blank=True)


class ConsensusSerializer(serializers.Serializer):
    scan = serializers.IntegerField(source="scan_id")
    scan_code = serializers.CharField()
    left_consensus = serializers.FloatField(source="left", allow_null=True)
    right_consensus = serializers.FloatField(source="right", allow_null=True)
    mbs_positive = serializers.BooleanField(allow_null=True)
    left_spread = serializers.IntegerField(help_text="Highest minus lowest left grade.")
    right_spread = serializers.IntegerField(help_text="Highest minus lowest right grade.")
    reads = ConsensusReadSerializer(many=True)


class AgreementView(APIView):
    """Inter-rater agreement of the current reads (each scan hemisphere is one graded item):
    Cohen's weighted kappa (linear weights) with 95% CI for each rater pair, Fleiss' kappa with a
    bootstrap 95% CI, and percent agreement. Investigators, data managers and admins."""

    permission_classes = [ReadReviewer]
    authentication_classes = AUTHENTICATION_CLASSES
    schema = StudyAutoSchema()

    @extend_schema(responses={200: AgreementSerializer}, summary="Inter-rater agreement")
    def get(self, request: Request) -> Response:
        return Response(AgreementSerializer(reads.agreement_report()).data)


class AdjudicationViewSet(viewsets.GenericViewSet):
    """Scans whose raters disagree by more than one grade in a hemisphere, with every current read
    and the consensus (median) grades. Investigators, data managers and admins."""

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
