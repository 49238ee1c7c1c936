"""WSGI entry point for gunicorn; DJANGO_SETTINGS_MODULE names the system."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
