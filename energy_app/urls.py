from django.contrib import admin
from django.urls import include, path

from energy_app import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("oauth/", include("social_django.urls", namespace="social")),
    path("", include("api.urls")),
    path("", include("meters.urls")),
    path("", include("meters.dashboard_urls")),
    path("", include("users.urls")),
]
