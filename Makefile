# The two commands a newcomer needs: `make demo` and `make test`. Both set up the machine first.
VENV := .venv
PTR := $(VENV)/bin/ptr
PYTEST_ARGS ?=

.PHONY: setup demo demo-full test test-fast bench lint clean

setup:
	@bash tools/setup.sh

demo: setup
	$(PTR) demo

demo-full: setup
	$(PTR) demo --budget full

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/python -m pytest -m 'not slow' $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python bench/sim_throughput.py
	$(VENV)/bin/python bench/train_throughput.py
	$(VENV)/bin/python bench/control_latency.py

lint: setup
	$(VENV)/bin/ruff check src bench launch

clean:
	rm -rf build install log
