"""Create the superuser named by DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL, once.

Run by docker/entrypoint.sh when any of the three is set. All three are then required, the password must pass
the project's password validators (the prototype shipped admin/admin), and an existing account with that
username is left untouched so a password changed in the admin is never reset by a restart.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger("entrypoint.superuser")

VARIABLES = ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_EMAIL")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="entrypoint: %(message)s")
    missing = [name for name in VARIABLES if not os.environ.get(name, "").strip()]
    if missing:
        logger.error("%s must be set too (all of %s, or none)", ", ".join(missing), ", ".join(VARIABLES))
        return 2

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_app.settings")
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    username = os.environ["DJANGO_SUPERUSER_USERNAME"].strip()
    password = os.environ["DJANGO_SUPERUSER_PASSWORD"]
    email = os.environ["DJANGO_SUPERUSER_EMAIL"].strip()
    user_model = get_user_model()

    if user_model.objects.filter(username=username).exists():
        logger.info("superuser %r already exists; left unchanged", username)
        return 0
    try:
        validate_email(email)
    except ValidationError:
        logger.error("DJANGO_SUPERUSER_EMAIL must be an e-mail address, got %r", email)
        return 2
    try:
        validate_password(password, user_model(username=username, email=email))
    except ValidationError as exc:
        logger.error("DJANGO_SUPERUSER_PASSWORD is too weak: %s", " ".join(exc.messages))
        return 2
    user_model.objects.create_superuser(username=username, email=email, password=password)
    logger.info("superuser %r created", username)
    return 0


if __name__ == "__main__":
    sys.exit(main())
