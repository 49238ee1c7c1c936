"""An empty URL conf, for system-check tests about other settings."""

urlpatterns: list = []
