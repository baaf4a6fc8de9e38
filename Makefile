# Each target creates or reuses .venv (tools/setup/setup_env.sh installs nothing on a second run).
PY := .venv/bin/python

.PHONY: setup demo demo-seg test

setup:
	bash tools/setup/setup_env.sh

demo: setup
	bash tools/run_demo.sh

demo-seg: setup
	bash tools/run_demo.sh configs/mixformer/fpn_mixformer-b1_4xb4-80k_mini-ade20k.py

test: setup
	$(PY) -m pytest tests
