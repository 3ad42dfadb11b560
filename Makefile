# `make dev` runs the service locally, `make test` tests it (`make check`: the fast
# loop — format, clippy, unit and endpoint tests); `make build` and `make deploy` ship
# it with SAM.
SHELL := /bin/bash

.PHONY: dev test check token page-link tools lint build deploy fuzz bench

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

check:
	@scripts/test.sh --check

# make token USER=alice SESSION=s1 — a local HS256 access token.
token:
	@python3 scripts/mint_token.py "$(USER)" "$(SESSION)"

# make page-link — a fresh one-time link to the devices page, signed in as the demo
# user `make dev` created (API_PORT as make dev's).
page-link:
	@python3 scripts/demo_user.py --link "http://127.0.0.1:$${API_PORT:-9000}"

tools:
	@scripts/tools.sh

lint:
	@scripts/lint.sh

build:
	@scripts/build.sh

deploy: build
	@scripts/deploy.sh

fuzz:
	@scripts/fuzz.sh

# Release binaries measured against a bare baseline (docs/PERFORMANCE.md).
bench:
	@bench/run.sh
