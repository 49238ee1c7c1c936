"""URLconf of the admin API; include it under a prefix such as ``api/defender/``.

The application namespace is ``drf_defender_admin``, so
``reverse("drf_defender_admin:blocks")`` works wherever the project mounts it.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from . import attempts, views

app_name = "drf_defender_admin"

urlpatterns: list[URLPattern] = [
    path("blocks/", views.BlockListView.as_view(), name="blocks"),
    path("blocks/unblock/", views.UnblockView.as_view(), name="unblock"),
    path("blocks/unblock-all/", views.UnblockAllView.as_view(), name="unblock-all"),
    path("status/", views.IdentityStatusView.as_view(), name="status"),
    path("lists/", views.ListsView.as_view(), name="lists"),
    path("lists/<str:name>/", views.ListDetailView.as_view(), name="list"),
    path("lists/<str:name>/entries/", views.ListEntriesView.as_view(), name="list-entries"),
    path("attempts/", attempts.AttemptListView.as_view(), name="attempts"),
    path("attempts/<str:id>/", attempts.AttemptDetailView.as_view(), name="attempt"),
    path("summary/", attempts.SummaryView.as_view(), name="summary"),
]
