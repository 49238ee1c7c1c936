"""A PBKDF2 hasher with few iterations, for the short benchmark run only."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 hasher at 1,000 iterations: the same code path, far less CPU."""

    iterations = 1000
