# Each target creates or reuses .venv (tools/setup_env.sh installs nothing on a second run).
PY := .venv/bin/python

.PHONY: setup demo demo-seg test

setup:
	bash tools/setup_env.sh

demo: setup
	bash tools/run_demo.sh

demo-seg: setup
	bash tools/run_seg_demo.sh

test: setup
	$(PY) -m pytest tests
