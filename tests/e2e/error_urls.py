"""The site's URLs and one that fails, so that the browser tests can check the 500 page (theme/templates/500.html)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from energy_app.urls import urlpatterns as site_urlpatterns


def fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a deliberate server error for the tests")


urlpatterns = [path("test-server-error/", fail), *site_urlpatterns]
