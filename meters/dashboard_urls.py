"""Dashboard pages at the prototype's paths, and the CSV export."""

from django.urls import path

from meters import dashboard_views

app_name = "dashboard"
urlpatterns = [
    path("", dashboard_views.home, name="home"),
    path("day/", dashboard_views.day, name="day"),
    path("week/", dashboard_views.week, name="week"),
    path("month/", dashboard_views.month, name="month"),
    path("year/", dashboard_views.year, name="year"),
    path("now/", dashboard_views.now, name="now"),
    path("bill/", dashboard_views.bill, name="bill"),
    path("now/panel/", dashboard_views.now_panel, name="now-panel"),
    path("meters/<str:code>/export.csv", dashboard_views.export_csv, name="export-csv"),
    path("trends/", dashboard_views.trends, name="trends"),
]
