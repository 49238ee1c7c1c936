"""Signals sent by the lockout service.

Every signal is sent with ``sender`` set to the ``LockoutService`` class. Receivers must
accept ``**kwargs`` because arguments may be added in later versions.
"""

from django.dispatch import Signal

#: A username was blocked. Arguments: ``username`` (as normalised), ``scope``.
username_block = Signal()

#: A username block was lifted by an administrator. Arguments: ``username``, ``scope``.
username_unblock = Signal()

#: An IP address was blocked. Arguments: ``ip_address``, ``scope``.
ip_block = Signal()

#: An IP block was lifted by an administrator. Arguments: ``ip_address``, ``scope``.
ip_unblock = Signal()

#: Any block started. Arguments: ``reason`` ("ip", "username" or "ip_and_username"),
#: ``username`` and ``ip_address`` (None when unknown), ``scope``, ``seconds`` (None for a
#: block that lasts until lifted), ``lockout_count`` (1 for the first lockout in the
#: escalation window), ``manual`` (True when an administrator set it).
lockout = Signal()

#: Any block was lifted. Arguments: ``reason``, ``identity``, ``scope``.
unblock = Signal()

#: A credential check failed. Arguments: ``request`` (may be None), ``username``
#: (as typed, may be None), ``ip_address``, ``scope``, ``integration``, ``locked_out``,
#: and ``attempt`` (the :class:`drf_defender.service.Attempt`).
attempt_failed = Signal()

#: A credential check succeeded. Same arguments as ``attempt_failed``.
attempt_succeeded = Signal()

#: A request was refused because a subject was blocked, before any credential check.
#: Same arguments as ``attempt_failed``.
attempt_blocked = Signal()

#: An entry was added to a run-time allow or deny list. Arguments: ``list_name`` (one of
#: "username_allow", "username_deny", "ip_allow", "ip_deny"), ``value``, ``actor`` (the
#: name of the administrator, None when unknown).
list_entry_added = Signal()

#: An entry was removed from a run-time allow or deny list. Same arguments as
#: ``list_entry_added``.
list_entry_removed = Signal()
