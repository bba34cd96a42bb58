"""Page-number pagination shared by every list endpoint (`?page=`, `?page_size=` up to 500)."""

from rest_framework.pagination import PageNumberPagination


class StudyPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
