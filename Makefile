# The two commands: `make dev` runs the service locally, `make test` tests it.
SHELL := /bin/bash

.PHONY: dev test token tools lint

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

# make token USER=alice SESSION=s1 — a local HS256 access token.
token:
	@python3 scripts/mint_token.py "$(USER)" "$(SESSION)"

tools:
	@scripts/tools.sh

lint: tools
	@.venv/bin/cfn-lint template.yaml
