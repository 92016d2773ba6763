# Two commands for a fresh Linux machine with Python 3.11+ and make: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Static-analysis tools whose pins clash with the app's (checkov) live in their own virtualenv.
TOOLS_VENV := .venv-tools
# PostgreSQL used by the second test pass; pytest-django creates and drops test_<name> on it.
PG_URL ?= postgres://postgres@127.0.0.1:5432/p1energy
# Suites that do not depend on the database vendor run once, on SQLite.
PG_SUITES ?= tests/users tests/meters tests/api tests/edge tests/bi
# pytest-xdist workers: one per core ("auto"); each test file runs whole on one worker, so its module fixtures (a
# browser, a live server) start once. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadfile
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-sqlite test-postgres tools lint format css chart bench clean lock messages compile-messages

# Every dependency is locked with hashes (requirements*.txt, compiled by `make lock` from the hand-edited *.in files)
# and installed with --require-hashes; the edge package comes from ./edge on top, without dependencies.
$(VENV)/.installed: requirements-dev.txt edge/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (PYTHON=python3.11 make ...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e ./edge
	touch $@

$(TOOLS_VENV)/.installed: requirements-tools.txt
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-tools.txt
	touch $@

# Recompiles the locks after a *.in file (or edge/pyproject.toml) changed: pins, transitive dependencies, hashes.
LOCK := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
	--no-emit-index-url --no-emit-find-links
lock: $(VENV)/.installed
	$(LOCK) -o requirements.txt requirements.in
	$(LOCK) -o requirements-dev.txt requirements-dev.in
	$(LOCK) -o requirements-tools.txt requirements-tools.in
	cd edge && ../$(LOCK) -o requirements.txt pyproject.toml

tools: $(TOOLS_VENV)/.installed

run: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py migrate --no-input
	DEBUG=1 $(PY) manage.py load_demo
	@echo "Open http://$(HOST):$(PORT)/ and log in as demo / demo-password-123"
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

test: lint test-sqlite test-postgres

test-sqlite: $(VENV)/.installed $(TOOLS_VENV)/.installed
	@echo "== test suite on SQLite =="
	DATABASE_URL=sqlite:///:memory: $(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed
	@if $(PY) -c 'import sys, psycopg; psycopg.connect("$(PG_URL)".rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()' 2>/dev/null; then \
		echo "== test suite on PostgreSQL ($(PG_URL)) =="; \
		DATABASE_URL=$(PG_URL) $(PY) -m pytest $(PYTEST_PARALLEL) $(PG_SUITES) $(PYTEST_ARGS); \
	elif [ "$$REQUIRE_POSTGRES" = "1" ]; then \
		echo "REQUIRE_POSTGRES=1 but PostgreSQL at $(PG_URL) is unreachable" >&2; exit 1; \
	else \
		echo "== PostgreSQL at $(PG_URL) unreachable: PostgreSQL pass skipped (set REQUIRE_POSTGRES=1 to fail instead) =="; \
	fi

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DEBUG=1 $(PY) -m mypy
	DEBUG=1 $(PY) manage.py check_catalogues

# The apps with catalogues (<app>/locale/<lang>/LC_MESSAGES/django.po; theme also djangojs.po for the charts).
I18N_APPS := users meters theme api
I18N_IGNORE := --ignore='static_src/*' --ignore='static_vendor/*' --ignore='static/js/vendor/*' --ignore='node_modules/*'
DJANGO_ADMIN = DEBUG=1 DJANGO_SETTINGS_MODULE=energy_app.settings PYTHONPATH=$(CURDIR) $(CURDIR)/$(VENV)/bin/django-admin
messages: $(VENV)/.installed
	for app in $(I18N_APPS); do (cd $$app && $(DJANGO_ADMIN) makemessages --no-obsolete -l nl -l fr -l de -l en $(I18N_IGNORE)) || exit 1; done
	cd theme && $(DJANGO_ADMIN) makemessages --no-obsolete -d djangojs -l nl -l fr -l de -l en $(I18N_IGNORE)
	# English is the source: its catalogue carries each text as it is (msgen), so it is complete like the others.
	# A fuzzy English entry carries an older text's words (makemessages guessed it): empty it, then msgen fills it.
	for po in $(addsuffix /locale/en/LC_MESSAGES/*.po,$(I18N_APPS)); do \
		msgattrib --clear-fuzzy --clear-previous --empty -o $$po $$po && msgen -o $$po $$po || exit 1; done

compile-messages: $(VENV)/.installed
	for app in $(I18N_APPS); do (cd $$app && $(DJANGO_ADMIN) compilemessages) || exit 1; done

format: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Rebuilds the committed Tailwind CSS (needs Node.js + npm; running the site does not).
css:
	cd theme/static_src && npm ci --no-audit --no-fund && npm run build

# Vendors the front-end libraries pinned in theme/static_vendor/package-lock.json into committed files: the chart
# library (uPlot) into the static files, and axe-core (the accessibility checker) into theme/static_vendor/axe,
# outside every static directory, so no page can load it: only the browser tests inject it (tests/e2e/axe.py).
chart:
	cd theme/static_vendor && npm ci --no-audit --no-fund
	mkdir -p theme/static/js/vendor theme/static_vendor/axe
	cp theme/static_vendor/node_modules/uplot/dist/uPlot.iife.min.js theme/static_vendor/node_modules/uplot/dist/uPlot.min.css theme/static/js/vendor/
	cp theme/static_vendor/node_modules/uplot/LICENSE theme/static/js/vendor/uPlot.LICENSE
	cp theme/static_vendor/node_modules/axe-core/axe.min.js theme/static_vendor/axe/
	cp theme/static_vendor/node_modules/axe-core/LICENSE theme/static_vendor/axe/axe.LICENSE

bench: $(VENV)/.installed
	for script in bench/[!_]*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS_VENV) staticfiles .pytest_cache .ruff_cache
