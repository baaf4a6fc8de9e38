# Each target creates or reuses .venv (tools/setup_env.sh installs nothing on a second run).
PY := .venv/bin/python

.PHONY: setup demo test

setup:
	bash tools/setup_env.sh

demo: setup
	bash tools/run_demo.sh

test: setup
	$(PY) -m pytest tests
