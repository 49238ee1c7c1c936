"""Tests of the DRF, SimpleJWT and dj-rest-auth integrations and the guard API."""
