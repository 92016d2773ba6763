#!/bin/sh
# Container start: apply migrations (MIGRATE_ON_START, default on) and then make the readings' month partitions
# ahead (PostgreSQL only; a failure there is reported, not fatal: the default partition takes the readings), create
# the superuser named by DJANGO_SUPERUSER_USERNAME/PASSWORD/EMAIL when all three are set (never a default account),
# then exec the command given (gunicorn by default) so it runs as PID 1 and receives SIGTERM directly.
set -eu

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

is_on() {
    # Same spellings as the settings' env_bool, so one value means the same thing everywhere.
    value=$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')
    case "$value" in
        1 | true | yes | on) return 0 ;;
        0 | false | no | off | "") return 1 ;;
        *)
            echo "entrypoint: $1 must be a boolean (1/0, true/false, yes/no, on/off), got '$2'" >&2
            exit 2
            ;;
    esac
}

if is_on MIGRATE_ON_START "${MIGRATE_ON_START:-1}"; then
    echo "entrypoint: applying database migrations"
    "$PYTHON" manage.py migrate --no-input
    "$PYTHON" manage.py partition_readings ||
        echo "entrypoint: partition_readings failed; the daily run will try again" >&2
else
    echo "entrypoint: MIGRATE_ON_START is off, migrations skipped"
fi

if [ -n "${DJANGO_SUPERUSER_USERNAME:-}${DJANGO_SUPERUSER_PASSWORD:-}${DJANGO_SUPERUSER_EMAIL:-}" ]; then
    "$PYTHON" docker/ensure_superuser.py
fi

if [ "$#" -eq 0 ]; then
    set -- gunicorn --config docker/gunicorn.conf.py energy_app.wsgi:application
fi
exec "$@"
