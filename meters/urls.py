"""Meter management at the prototype's paths. ``<code>`` is the meter's public UUID."""

from django.urls import path

from meters import views

app_name = "meters"
urlpatterns = [
    path("serialNumbers/", views.meter_list, name="list"),
    path("serialNumbers/updateMeterName/<str:code>", views.rename, name="rename"),
    path("serialNumbers/Delete/<str:code>", views.release, name="release"),
    path("serialNumbers/DeleteWithData/<str:code>", views.delete_with_data, name="delete-with-data"),
]
