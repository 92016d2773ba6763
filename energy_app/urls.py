from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from energy_app import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    # The charts' texts (theme/locale/*/djangojs.po) only, not every installed app's JS catalogue.
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["theme"]), name="javascript-catalog"),
    path("oauth/", include("social_django.urls", namespace="social")),
    path("", include("api.urls")),
    path("", include("meters.urls")),
    path("", include("meters.dashboard_urls")),
    path("", include("users.urls")),
]
