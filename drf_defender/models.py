"""The access-attempt log: one row per credential check.

Rows are written by :mod:`drf_defender.receivers` (inline and Celery modes) or by the
``drain_access_attempts`` command (buffered mode), and deleted by
``cleanup_django_defender``. The lockout decisions never read this table.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: Column sizes, in characters. Values are truncated to them before they are written.
USERNAME_MAX_LENGTH = 255
USER_AGENT_MAX_LENGTH = 255
HTTP_ACCEPT_MAX_LENGTH = 1025
PATH_INFO_MAX_LENGTH = 255
INTEGRATION_MAX_LENGTH = 32
SCOPE_MAX_LENGTH = 32
STREAM_ID_MAX_LENGTH = 64


class AccessAttempt(models.Model):
    """One credential check: who tried, from where, and whether it succeeded."""

    attempt_time = models.DateTimeField(_("attempt time"), default=timezone.now, db_index=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    username = models.CharField(
        _("username"),
        max_length=USERNAME_MAX_LENGTH,
        blank=True,
        help_text=_("The username as typed, truncated to the column size."),
    )
    username_normalized = models.CharField(
        _("normalised username"),
        max_length=USERNAME_MAX_LENGTH,
        blank=True,
        help_text=_(
            "The identity failures are counted under: the normalised username, or "
            "'h:' and a hash for long or unusual names."
        ),
    )
    user_agent = models.CharField(_("user agent"), max_length=USER_AGENT_MAX_LENGTH, blank=True)
    http_accept = models.CharField(_("HTTP Accept"), max_length=HTTP_ACCEPT_MAX_LENGTH, blank=True)
    path_info = models.CharField(_("path"), max_length=PATH_INFO_MAX_LENGTH, blank=True)
    login_valid = models.BooleanField(_("login valid"), default=False)
    integration = models.CharField(_("integration"), max_length=INTEGRATION_MAX_LENGTH, blank=True)
    scope = models.CharField(_("scope"), max_length=SCOPE_MAX_LENGTH, blank=True)
    locked_out = models.BooleanField(
        _("locked out"),
        default=False,
        help_text=_("This failure was over a limit: it started a block or hit one."),
    )
    stream_id = models.CharField(
        _("stream entry ID"),
        max_length=STREAM_ID_MAX_LENGTH,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_(
            "ID of the Redis stream entry a buffered row came from; it makes a repeated "
            "drain of the same entry a no-op. Empty for rows written inline or by Celery."
        ),
    )

    class Meta:
        verbose_name = _("access attempt")
        verbose_name_plural = _("access attempts")
        ordering = ("-attempt_time",)
        # Each filter of the admin pages, the admin API and the commands is an equality on
        # one column, newest rows first, so each index pairs that column with the time.
        # The admin API matches a username against both username columns.
        indexes = (
            models.Index(fields=("username", "-attempt_time"), name="drf_defender_aa_typed_time"),
            models.Index(
                fields=("username_normalized", "-attempt_time"),
                name="drf_defender_aa_user_time",
            ),
            models.Index(fields=("ip_address", "-attempt_time"), name="drf_defender_aa_ip_time"),
            models.Index(
                fields=("login_valid", "-attempt_time"), name="drf_defender_aa_valid_time"
            ),
        )

    def __str__(self) -> str:
        outcome = "succeeded" if self.login_valid else "failed"
        return f"{self.username or '-'} from {self.ip_address or '-'} {outcome}"
