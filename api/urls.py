from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import billing, imports, me, prices, trends, views

app_name = "api"
urlpatterns = [
    # The prototype's paths, used by devices in the field.
    path("api-auth/token/", views.TokenObtainPairView.as_view(), name="token"),
    path("api-auth/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("api-auth/setData", views.set_data, name="set-data"),
    path("api-auth/getData/<str:reading_id>", views.get_data, name="get-data"),
    # Version 1.
    path("api/v1/token/", views.TokenObtainPairView.as_view(), name="v1-token"),
    path("api/v1/token/refresh/", views.TokenRefreshView.as_view(), name="v1-token-refresh"),
    path("api/v1/readings", views.post_readings, name="readings"),
    path("api/v1/telegrams", views.post_telegrams, name="telegrams"),
    path("api/v1/live", views.post_live, name="live"),
    path("api/v1/prices", prices.post_prices, name="prices"),
    path("api/v1/meters/", views.MeterListView.as_view(), name="meters"),
    path("api/v1/meters/<str:code>/readings/", views.ReadingListView.as_view(), name="meter-readings"),
    path("api/v1/meters/<str:code>/series/", views.meter_series, name="meter-series"),
    path("api/v1/meters/<str:code>/live", views.meter_live, name="meter-live"),
    path("api/v1/meters/<str:code>/bill", billing.meter_bill, name="meter-bill"),
    path("api/v1/meters/<str:code>/bill/compare", billing.meter_bill_compare, name="meter-bill-compare"),
    path("api/v1/meters/<str:code>/trends", trends.meter_trends, name="meter-trends"),
    path("api/v1/meters/<str:code>/imports/fluvius", imports.fluvius_import, name="meter-fluvius-import"),
    # Pairing a Pi (RFC 8628) and the account's devices.
    path("api/v1/device/code", views.device_code, name="device-code"),
    path("api/v1/device/token", views.device_token, name="device-token"),
    path("api/v1/devices/", views.DeviceListView.as_view(), name="devices"),
    path("api/v1/devices/<str:device_id>/", views.DeviceDetailView.as_view(), name="device"),
    path("api/v1/me/export", me.ExportView.as_view(), name="me-export"),
    # Documentation.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # GET and HEAD only: DRF's OPTIONS answer would be rendered through the page's HTML template, which has none.
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", http_method_names=["get", "head"]),
        name="docs",
    ),
]
