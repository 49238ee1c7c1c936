"""Request and response serializers of the admin API.

Request serializers validate every value before a view passes it to the lockout
service, so that bad input gets a 400 with field errors. Response serializers describe
the bodies for the OpenAPI schema and fix their shape.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .. import identity
from ..keys import (
    KIND_IP,
    KIND_PAIR,
    KIND_USERNAME,
    KINDS,
    LIST_NAMES,
    PAIR_SEPARATOR,
    REASONS,
    SCOPE_LOGIN,
    SCOPE_PASSWORD_RESET,
)

SCOPES = (SCOPE_LOGIN, SCOPE_PASSWORD_RESET)
REASONS_CHOICES = tuple(REASONS[kind] for kind in KINDS)

#: Maximum duration of a manual block, in seconds (one year); 0 blocks until unblocked.
MAX_BLOCK_SECONDS = 365 * 24 * 3600

#: Maximum length of a username in a request. Longer login usernames are counted under a
#: hashed identity, which block listings and status lookups show and accept.
MAX_USERNAME_LENGTH = 4096

#: Maximum length of an IP address or network in a request.
MAX_IP_LENGTH = 100

#: Page size limits of the paginated listings.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_OFFSET = 10_000_000

KIND_HELP = _("'username', 'ip', or 'ipusername' for the pair of an IP address and a username.")
SCOPE_HELP = _("Counting scope: 'login' (the default) or 'password_reset'.")


class EnumField(serializers.ChoiceField):
    """A choice field whose choices appear in the OpenAPI schema as the component ``enum_name``.

    Named components keep the admin API's enums apart from a project's own fields of the
    same name (such as "kind" or "scope") when both share one schema.
    """

    def __init__(self, *, enum_name: str, **kwargs: Any) -> None:
        self.enum_name = enum_name
        super().__init__(**kwargs)


# --- field validation -------------------------------------------------------------------


def validate_username(value: str) -> None:
    """Reject a username that is empty once normalised."""
    if identity.username_identity(value) is None:
        raise serializers.ValidationError(_("The username is empty."), code="blank")


def validate_ip(value: str) -> str:
    """Return the canonical form of an IP address, or raise a validation error."""
    canonical = identity.canonical_ip(value)
    if canonical is None:
        raise serializers.ValidationError(
            _("%(value)s is not a valid IPv4 or IPv6 address.") % {"value": repr(value)},
            code="invalid_ip",
        )
    return canonical


def canonical_network(value: str) -> str:
    """Return the canonical form of an IP address or CIDR network for the IP lists.

    A single address is written without a prefix length, host bits of a network are
    cleared, and an IPv4-mapped IPv6 address or network becomes IPv4, because client
    addresses are matched in that form.
    """
    try:
        (network,) = identity.parse_networks([value])
    except ValueError as error:
        raise serializers.ValidationError(
            _("%(value)s is not a valid IP address or CIDR network.") % {"value": repr(value)},
            code="invalid_network",
        ) from error
    if isinstance(network, ipaddress.IPv6Network):
        mapped = network.network_address.ipv4_mapped
        if mapped is not None and network.prefixlen >= 96:
            network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def canonical_list_username(value: str) -> str:
    """Return the form in which a username is stored in the username lists.

    A username with a readable identity is stored as that identity, which is its
    normalised form. Any other username is stored as typed, without surrounding white
    space, because the service hashes list entries when it loads them.
    """
    key = identity.username_identity(value)
    if key is None:
        raise serializers.ValidationError(_("The username is empty."), code="blank")
    if key.startswith(identity.HASHED_USERNAME_PREFIX):
        return value.strip()
    return key


def _username_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        max_length=MAX_USERNAME_LENGTH,
        trim_whitespace=False,
        validators=[validate_username],
        **kwargs,
    )


def _ip_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=MAX_IP_LENGTH, **kwargs)


def _scope_field() -> serializers.ChoiceField:
    return EnumField(
        enum_name="DefenderScope", choices=SCOPES, default=SCOPE_LOGIN, help_text=SCOPE_HELP
    )


def _required_for(kind: str | None) -> str:
    return str(_("This field is required for the kind %(kind)s.") % {"kind": kind})


class SubjectFieldsMixin(serializers.Serializer):
    """Username and IP fields naming a subject or an identity, with their checks."""

    def validate_ip(self, value: str) -> str:
        return validate_ip(value)

    def require(self, attrs: dict[str, Any], kind: str | None) -> None:
        """Raise a field error when the fields that ``kind`` needs are missing."""
        needs_ip = kind in (KIND_IP, KIND_PAIR)
        needs_username = kind in (KIND_USERNAME, KIND_PAIR)
        errors: dict[str, list[str]] = {}
        if needs_ip and not attrs.get("ip"):
            errors["ip"] = [_required_for(kind)]
        if needs_username and not attrs.get("username"):
            errors["username"] = [_required_for(kind)]
        if kind is None and not attrs.get("ip") and not attrs.get("username"):
            errors["non_field_errors"] = [str(_("Give a username, an IP address, or both."))]
        if errors:
            raise serializers.ValidationError(errors, code="required")


def subject_value(kind: str, attrs: dict[str, Any]) -> str:
    """Return the value that the service's admin methods take for ``kind``."""
    if kind == KIND_USERNAME:
        return str(attrs["username"])
    if kind == KIND_IP:
        return str(attrs["ip"])
    return f"{attrs['ip']}{PAIR_SEPARATOR}{attrs['username']}"


# --- requests -----------------------------------------------------------------------------


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_PAGE_SIZE,
        default=DEFAULT_PAGE_SIZE,
        help_text=_("Number of results per page."),
    )
    offset = serializers.IntegerField(
        min_value=0,
        max_value=MAX_OFFSET,
        default=0,
        help_text=_("Index of the first result, counted from 0."),
    )


class BlockListQuerySerializer(PageQuerySerializer):
    kind = EnumField(
        enum_name="DefenderKind",
        choices=KINDS,
        required=False,
        help_text=_("Only list blocks of this kind; all kinds when omitted."),
    )
    scope = _scope_field()


class BlockRequestSerializer(SubjectFieldsMixin):
    kind = EnumField(enum_name="DefenderKind", choices=KINDS, help_text=KIND_HELP)
    username = _username_field(
        required=False, help_text=_("Username to block; required for 'username' and 'ipusername'.")
    )
    ip = _ip_field(
        required=False, help_text=_("IP address to block; required for 'ip' and 'ipusername'.")
    )
    duration = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_BLOCK_SECONDS,
        help_text=_(
            "Seconds the block lasts, at most one year; 0 blocks until an administrator "
            "unblocks. Omitted or null: the first lockout duration of the scope."
        ),
    )
    scope = _scope_field()

    class Meta:
        ref_name = "DefenderBlockRequest"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.require(attrs, attrs["kind"])
        return attrs


class UnblockRequestSerializer(SubjectFieldsMixin):
    kind = EnumField(
        enum_name="DefenderKind",
        choices=KINDS,
        required=False,
        help_text=_(
            "Subject to clear. Omitted: clear every subject of the identity given by "
            "'username' and 'ip' (the username, the IP and their pair)."
        ),
    )
    username = _username_field(required=False, help_text=_("Username of the identity."))
    ip = _ip_field(required=False, help_text=_("IP address of the identity."))
    scope = _scope_field()

    class Meta:
        ref_name = "DefenderUnblockRequest"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.require(attrs, attrs.get("kind"))
        return attrs


class UnblockAllRequestSerializer(serializers.Serializer):
    kind = EnumField(enum_name="DefenderKind", choices=KINDS, help_text=KIND_HELP)
    scope = _scope_field()

    class Meta:
        ref_name = "DefenderUnblockAllRequest"


class StatusQuerySerializer(SubjectFieldsMixin):
    username = _username_field(required=False, help_text=_("Username to look up."))
    ip = _ip_field(required=False, help_text=_("IP address to look up."))
    scope = _scope_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.require(attrs, None)
        return attrs


class ListEntryRequestSerializer(serializers.Serializer):
    value = serializers.CharField(
        max_length=MAX_USERNAME_LENGTH,
        trim_whitespace=False,
        help_text=_(
            "A username for the username lists; an IP address or CIDR network "
            "(such as 203.0.113.0/24) for the IP lists."
        ),
    )

    class Meta:
        ref_name = "DefenderListEntryRequest"

    def validate_value(self, value: str) -> str:
        if self.context["list_name"].startswith("ip_"):
            return canonical_network(value)
        return canonical_list_username(value)


class ListEntryQuerySerializer(ListEntryRequestSerializer):
    value = serializers.CharField(
        max_length=MAX_USERNAME_LENGTH,
        trim_whitespace=False,
        help_text=_("The entry to remove, in any form that names it."),
    )


# --- responses ----------------------------------------------------------------------------


class SubjectStateSerializer(serializers.Serializer):
    """Stored state of one subject: failure count, block and lockout count."""

    kind = EnumField(enum_name="DefenderKind", choices=KINDS, help_text=KIND_HELP)
    reason = EnumField(
        enum_name="DefenderReason",
        choices=REASONS_CHOICES,
        help_text=_("Reason sent with the lockout signals for this kind."),
    )
    scope = EnumField(enum_name="DefenderScope", choices=SCOPES)
    identity = serializers.CharField(
        help_text=_(
            "Identity the subject is counted under: a normalised username (or 'h:' and a "
            "hash for long or non-ASCII ones), an IP (an IPv6 network), or both joined by '|'."
        )
    )
    # Declared fields leave the class, so this does not replace Field.label.
    label = serializers.CharField(help_text=_("Value to show people."))  # type: ignore[assignment]
    username = serializers.CharField(
        allow_null=True,
        help_text=_("Username of the subject as the API accepts it back; null for an IP."),
    )
    ip = serializers.CharField(
        allow_null=True,
        help_text=_("IP address of the subject as the API accepts it back; null for a username."),
    )
    failures = serializers.IntegerField(help_text=_("Failures counted in the current window."))
    limit = serializers.IntegerField(help_text=_("Failures allowed before a lockout."))
    blocked = serializers.BooleanField()
    manual = serializers.BooleanField(help_text=_("Whether an administrator set the block."))
    permanent = serializers.BooleanField(
        help_text=_("Whether the block lasts until an administrator unblocks.")
    )
    lockout_count = serializers.IntegerField(
        help_text=_("Lockouts remembered for escalating the next lockout duration.")
    )
    blocked_since = serializers.DateTimeField(allow_null=True)
    blocked_until = serializers.DateTimeField(
        allow_null=True, help_text=_("End of the block; null when not blocked or permanent.")
    )
    seconds_left = serializers.IntegerField(
        allow_null=True,
        help_text=_("Seconds until the block ends; 0 when not blocked, null when permanent."),
    )

    class Meta:
        ref_name = "DefenderSubjectState"


class PageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=_("Number of results on all pages."))
    next = serializers.URLField(allow_null=True, help_text=_("URL of the next page."))
    previous = serializers.URLField(allow_null=True, help_text=_("URL of the previous page."))


class BlockPageSerializer(PageSerializer):
    results = SubjectStateSerializer(many=True)

    class Meta:
        ref_name = "DefenderBlockPage"


class ClearedSubjectSerializer(serializers.Serializer):
    kind = EnumField(enum_name="DefenderKind", choices=KINDS)
    reason = EnumField(enum_name="DefenderReason", choices=REASONS_CHOICES)
    identity = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    was_blocked = serializers.BooleanField(help_text=_("Whether a block was lifted."))
    failures = serializers.IntegerField(help_text=_("Failure count that was deleted."))
    lockout_count = serializers.IntegerField(
        help_text=_("Lockout history that was deleted; the next lockout is a first one again.")
    )
    keys = serializers.ListField(
        child=serializers.CharField(),
        help_text=_("Backend keys of this subject that held data and were deleted."),
    )

    class Meta:
        ref_name = "DefenderClearedSubject"


class UnblockResultSerializer(serializers.Serializer):
    scope = EnumField(enum_name="DefenderScope", choices=SCOPES)
    cleared = ClearedSubjectSerializer(many=True, help_text=_("Subjects that were cleared."))
    still_blocked = SubjectStateSerializer(
        many=True,
        help_text=_(
            "Other subjects of the identity given by 'username' and 'ip' that stay blocked; "
            "a login from that identity is refused while this list is not empty."
        ),
    )
    blocked = serializers.BooleanField(
        help_text=_("Whether the identity given by 'username' and 'ip' is still blocked.")
    )

    class Meta:
        ref_name = "DefenderUnblockResult"


class UnblockAllResultSerializer(serializers.Serializer):
    kind = EnumField(enum_name="DefenderKind", choices=KINDS)
    scope = EnumField(enum_name="DefenderScope", choices=SCOPES)
    count = serializers.IntegerField(help_text=_("Number of subjects unblocked."))
    labels = serializers.ListField(
        child=serializers.CharField(), help_text=_("Labels of the subjects unblocked.")
    )

    class Meta:
        ref_name = "DefenderUnblockAllResult"


class IdentityStatusSerializer(serializers.Serializer):
    scope = EnumField(enum_name="DefenderScope", choices=SCOPES)
    username = serializers.CharField(allow_null=True)
    ip = serializers.CharField(allow_null=True)
    blocked = serializers.BooleanField(
        help_text=_("Whether any subject of the identity is blocked.")
    )
    seconds_left = serializers.IntegerField(
        allow_null=True,
        help_text=_(
            "Seconds until every block ends; 0 when not blocked, null when one is permanent."
        ),
    )
    allowlisted = serializers.BooleanField(
        help_text=_("Whether an allow list (settings or run-time) exempts the identity.")
    )
    denylisted = serializers.BooleanField(
        help_text=_("Whether a deny list (settings or run-time) always refuses the identity.")
    )
    subjects = SubjectStateSerializer(many=True)

    class Meta:
        ref_name = "DefenderIdentityStatus"


class ListSerializer(serializers.Serializer):
    name = EnumField(enum_name="DefenderListName", choices=LIST_NAMES)
    kind = EnumField(enum_name="DefenderListKind", choices=(KIND_USERNAME, KIND_IP))
    effect = EnumField(
        enum_name="DefenderListEffect",
        choices=("allow", "deny"),
        help_text=_("'allow': never counted or blocked; 'deny': always refused."),
    )
    entries = serializers.ListField(
        child=serializers.CharField(), help_text=_("Run-time entries, which the API can change.")
    )
    configured = serializers.ListField(
        child=serializers.CharField(),
        help_text=_("Entries from the DEFENDER_* settings, read only."),
    )

    class Meta:
        ref_name = "DefenderList"


class ListChangeSerializer(serializers.Serializer):
    name = EnumField(enum_name="DefenderListName", choices=LIST_NAMES)
    value = serializers.CharField(help_text=_("The entry in its canonical form."))
    changed = serializers.BooleanField(
        help_text=_("False when the entry was already in the list (adding).")
    )

    class Meta:
        ref_name = "DefenderListChange"


# --- access attempts and summary -------------------------------------------------------------

ATTEMPT_ORDERINGS = (
    "-attempt_time",
    "attempt_time",
    "-id",
    "id",
    "username_normalized",
    "-username_normalized",
    "ip_address",
    "-ip_address",
)


class AttemptQuerySerializer(PageQuerySerializer):
    username = serializers.CharField(
        required=False,
        max_length=MAX_USERNAME_LENGTH,
        trim_whitespace=False,
        validators=[validate_username],
        help_text=_("Attempts whose username normalises to the same identity as this value."),
    )
    ip = _ip_field(required=False, help_text=_("Attempts from this IP address."))
    success = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text=_("true: successful checks only; false: failed checks only."),
    )
    locked_out = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text=_("true: only failures over a limit, which started or hit a block."),
    )
    integration = serializers.CharField(
        required=False,
        max_length=64,
        help_text=_("Attempts made through this integration, such as 'basic' or 'simplejwt'."),
    )
    scope = EnumField(
        enum_name="DefenderScope", choices=SCOPES, required=False, help_text=SCOPE_HELP
    )
    since = serializers.DateTimeField(
        required=False, help_text=_("Attempts at or after this time (ISO 8601).")
    )
    until = serializers.DateTimeField(
        required=False, help_text=_("Attempts before this time (ISO 8601).")
    )
    ordering = EnumField(
        enum_name="DefenderAttemptOrdering",
        choices=ATTEMPT_ORDERINGS,
        default="-attempt_time",
        help_text=_("Sort field; a leading '-' sorts in descending order."),
    )

    def validate_ip(self, value: str) -> str:
        return validate_ip(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and until < since:
            raise serializers.ValidationError(
                {"until": [_("The end of the time range is before its start.")]}, code="invalid"
            )
        return attrs


class AttemptSerializer(serializers.Serializer):
    """One row of the access-attempt log."""

    id = serializers.IntegerField()
    attempt_time = serializers.DateTimeField()
    ip_address = serializers.CharField(allow_null=True)
    username = serializers.CharField(allow_blank=True, help_text=_("The username as typed."))
    username_normalized = serializers.CharField(
        allow_blank=True, help_text=_("The identity the failure was counted under.")
    )
    user_agent = serializers.CharField(allow_blank=True)
    http_accept = serializers.CharField(allow_blank=True)
    path_info = serializers.CharField(allow_blank=True)
    login_valid = serializers.BooleanField(help_text=_("Whether the credentials were valid."))
    integration = serializers.CharField(allow_blank=True)
    scope = serializers.CharField(allow_blank=True)
    locked_out = serializers.BooleanField(
        help_text=_("Whether this failure was over a limit: it started or hit a block.")
    )

    class Meta:
        ref_name = "DefenderAttempt"


class AttemptPageSerializer(PageSerializer):
    results = AttemptSerializer(many=True)

    class Meta:
        ref_name = "DefenderAttemptPage"


class SummaryQuerySerializer(serializers.Serializer):
    scope = _scope_field()


class SummaryWindowSerializer(serializers.Serializer):
    seconds = serializers.IntegerField(help_text=_("Length of the window."))
    since = serializers.DateTimeField(help_text=_("Start of the window."))
    failures = serializers.IntegerField(help_text=_("Failed credential checks."))
    successes = serializers.IntegerField(help_text=_("Successful credential checks."))
    lockouts = serializers.IntegerField(
        help_text=_("Failed checks over a limit, which started or hit a block.")
    )
    failed_ips = serializers.IntegerField(
        help_text=_("Distinct IP addresses with at least one failure.")
    )
    failed_usernames = serializers.IntegerField(
        help_text=_("Distinct usernames with at least one failure.")
    )

    class Meta:
        ref_name = "DefenderSummaryWindow"


class SummaryWindowsSerializer(serializers.Serializer):
    last_hour = SummaryWindowSerializer()
    last_day = SummaryWindowSerializer()

    class Meta:
        ref_name = "DefenderSummaryWindows"


class BlockedCountsSerializer(serializers.Serializer):
    username = serializers.IntegerField()
    ip = serializers.IntegerField()
    ipusername = serializers.IntegerField()
    total = serializers.IntegerField()

    class Meta:
        ref_name = "DefenderBlockedCounts"


class SummarySerializer(serializers.Serializer):
    scope = EnumField(enum_name="DefenderScope", choices=SCOPES)
    generated_at = serializers.DateTimeField()
    windows = SummaryWindowsSerializer(
        help_text=_("Counts from the access-attempt log over recent windows.")
    )
    currently_blocked = BlockedCountsSerializer(
        help_text=_("Subjects blocked now, by kind, from the lockout backend.")
    )

    class Meta:
        ref_name = "DefenderSummary"
