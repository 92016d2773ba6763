"""Admin: a user's prices and last shown meter are edited inline on the user page."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from users.models import Profile

User = get_user_model()


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    # One empty form when the user has no profile yet (profiles are created lazily by profile_for).
    extra = 1
    max_num = 1
    verbose_name_plural = _("Profile (prices, language)")
    # Alerts are the account owner's own business (webhook URL, where mail goes), and so is the colour scheme: set
    # on /profile/ only.
    exclude = (
        "theme",
        "alert_peak",
        "alert_peak_threshold_kw",
        "alert_offline",
        "alert_offline_minutes",
        "alert_email",
        "alert_webhook_url",
    )


admin.site.unregister(User)


@admin.register(User)
class UserWithProfileAdmin(UserAdmin):
    inlines = (*UserAdmin.inlines, ProfileInline)
