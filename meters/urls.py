"""Meter management at the prototype's paths. ``<code>`` is the meter's public UUID."""

from django.urls import path

from meters import views

app_name = "meters"
urlpatterns = [
    path("serialNumbers/", views.meter_list, name="list"),
    path("serialNumbers/updateMeterName/<str:code>", views.rename, name="rename"),
    path("serialNumbers/Delete/<str:code>", views.release, name="release"),
    path("serialNumbers/DeleteWithData/<str:code>", views.delete_with_data, name="delete-with-data"),
    # Contracts (meters/billing/): the prices of every quarter.
    path("meters/<str:code>/contracts/", views.contracts, name="contracts"),
    path("meters/<str:code>/contracts/<str:contract_id>/delete", views.contract_delete, name="contract-delete"),
    # History from Mijn Fluvius (meters/fluvius/).
    path("meters/<str:code>/imports/fluvius/", views.fluvius_import, name="fluvius-import"),
    # Household sharing (meters/sharing.py).
    path("meters/<str:code>/sharing/", views.sharing, name="sharing"),
    path("meters/<str:code>/sharing/<str:share_id>/revoke", views.share_revoke, name="share-revoke"),
    path("meters/<str:code>/leave", views.share_leave, name="share-leave"),
    path("shares/<str:token>/", views.share_accept, name="share-accept"),
    # Pairing a Pi (RFC 8628's verification URI) and the account's devices.
    path("device/", views.device, name="device"),
    path("devices/", views.device_list, name="devices"),
    path("devices/<str:device_id>/rename", views.device_rename, name="device-rename"),
    path("devices/<str:device_id>/revoke", views.device_revoke, name="device-revoke"),
]
