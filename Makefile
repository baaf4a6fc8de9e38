# Each target creates or reuses .venv (tools/setup/setup_env.sh installs nothing on a second run).
PY := .venv/bin/python

.PHONY: setup demo demo-seg test gpu-check-wheels

setup:
	bash tools/setup/setup_env.sh

demo: setup
	bash tools/run_demo.sh

demo-seg: setup
	bash tools/run_demo.sh configs/mixformer/fpn_mixformer-b1_4xb4-80k_mini-ade20k.py

test: setup
	$(PY) -m pytest tests

# The wheel set tools/gpu_check/run.sh installs on a GPU machine without a
# package index (.whl/gpu; docs/benchmark.md, "GPU check").
gpu-check-wheels: setup
	$(PY) tools/gpu_check/wheels.py
