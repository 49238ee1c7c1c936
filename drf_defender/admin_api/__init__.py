"""REST API for administering lockouts: blocks, identity status, lists, attempts, summary.

Mount it in a project's URLconf with ``path("api/defender/",
include("drf_defender.admin_api.urls"))``. Every view calls the lockout service from
``drf_defender.service`` and reads the attempt log from ``drf_defender.models``.
"""
