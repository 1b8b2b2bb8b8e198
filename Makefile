# Every target bootstraps .venv itself from the pinned requirements files.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench fuzz chaos lint fmt site cleaner-exe cleaner-exe-test system-deps package-aws clean catalogs mo \
	manifests lock

# What the functions also install is held at requirements-aws.lock's versions here too (hashes stripped: a
# constraints file may not carry them), so tests run what Lambda runs.
$(STAMP): requirements.txt requirements-dev.txt cleaner/requirements.txt requirements-aws.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt \
		-c <(sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' requirements-aws.lock) 2>&1 \
		| { grep -v '^WARNING: Location' || true; }  # this machine's pip.conf lists absent mirrors
	touch $(STAMP)

# requirements-aws.lock: requirements-aws.txt with every transitive package pinned and hashed, resolved for
# Lambda (python3.12, Amazon Linux 2023's manylinux_2_28 wheels). Run after changing a pin; commit both.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile requirements-aws.txt --quiet --generate-hashes --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" -o requirements-aws.lock

# Debian packages the tests drive (Xvfb for the Cleaner window, Chromium for the site); installed when root.
system-deps:
	bash .ci/system-deps

run: $(STAMP) mo
	$(PY) -m devtools run

test: $(STAMP) system-deps node_modules/.installed-stamp mo
	$(PY) -m pytest

# Message catalogs: `make catalogs` adds new texts to every locale/ru.po (then translate them) and drops gone
# ones; `make mo` compiles them (a .po newer than its .mo is also compiled in memory on first use).
catalogs: $(STAMP)
	$(PY) -m devtools catalogs update

mo: $(STAMP)
	$(PY) -m devtools catalogs compile

# osls + its Python requirements plugin, pinned by package-lock.json (deploy tooling only; the package test
# needs it). Without npm (Node >= 20.19) the test says so and skips.
node_modules/.installed-stamp: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && touch $@; \
	else echo "npm not found: the AWS package test will skip"; fi

# The AWS package (.serverless/ttfd.zip + CloudFormation), offline; `npx osls deploy` ships it. Placeholder
# values for the required plain settings: a real deploy passes its own (README, "Deploy").
package-aws: $(STAMP) node_modules/.installed-stamp mo
	py=$$(bash .ci/python312) && TTFD_PYTHON312=$$py npx osls package --param discordPublicKey=0 \
		--param discordApplicationId=0 --param telegramBotUsername=example_bot

# What lists the registry's functions, written from it: main.py, serverless.yml's functions and roles, the
# site's OpenAPI document, deploy/gcp.sh, tests/commands.txt (tests/test_manifests.py fails on a difference).
manifests: $(STAMP)
	$(PY) -m devtools.manifests

# All parts, or some: make bench BENCH="bursts site" (platform, bursts, site, season, wake, fleet, cleaner).
# BENCH_ARGS="--accounts 1000000" runs the chat commands against 1M accounts in 10k guilds (the seeded database
# is kept as a template); "--prepared on" (or "both") reports them with prepared statements on (default: off).
bench: $(STAMP) mo
	$(PY) -m bench $(BENCH) $(BENCH_ARGS)

# Bursts of mixed writes, kill -9 and terminated connections mid-burst, resend, then the books checked.
chaos: $(STAMP)
	$(PY) -m tests.chaos $(CHAOS_ARGS)

# Longer, randomised runs of the property-based fuzz tests (make test runs a fixed 120 cases per surface).
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} $(PY) -m pytest -q tests/test_fuzz.py

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m devtools.lint_texts
	$(PY) -m devtools catalogs check

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

site: $(STAMP)
	$(PY) -m static_site.build

cleaner-exe: $(STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller cleaner/cleaner.spec

# The Cleaner's one-file executable and its tests (make test also runs them once dist/ttfd-cleaner exists).
cleaner-exe-test: cleaner-exe
	$(PY) -m pytest -q tests/cleaner/test_executable.py

clean:
	rm -rf build dist static_site/dist .pytest_cache .mypy_cache .ruff_cache .serverless
