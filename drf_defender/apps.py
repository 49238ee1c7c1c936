from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DefenderConfig(AppConfig):
    name = "drf_defender"
    verbose_name = _("drf-defender")
    # Set explicitly so that DEFAULT_AUTO_FIELD of a project never makes the shipped
    # migrations look out of date.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
        from .receivers import connect as connect_access_log  # imports the log's checks too

        connect_access_log()

        from . import notifications, signals

        signals.lockout.connect(
            notifications.notify_user_on_lockout, dispatch_uid="drf_defender.notify_user_on_lockout"
        )

        from .admin_api import checks as admin_api_checks  # noqa: F401 - registers its check

        try:
            from . import openapi  # noqa: F401 - registers the drf-spectacular extensions
        except ImportError:
            # Without drf-spectacular there is no schema to document.
            pass
