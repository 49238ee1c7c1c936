"""Side-by-side benchmark of drf-defender, django-defender, django-axes and plain DRF.

Run it with ``make bench``; see docs/benchmarks.md for what it measures.
"""
