# mmstim: the two commands (README.md) and their helpers.
#   make demo   prepare Fashion-MNIST, train a small ST++ ResNet on CPU, print a table
#   make test   run the whole test suite
# Both create or complete the environment first (make setup, idempotent).
VENV ?= $(CURDIR)/.venv
PYTHON_BIN := $(VENV)/bin/python
export VENV

.PHONY: setup test demo data lint

setup:
	@bash tools/setup_env.sh

data: setup
	@$(PYTHON_BIN) tools/data/prepare_fashion_mnist.py

test: setup
	@$(PYTHON_BIN) -m pytest tests -q -p no:cacheprovider

demo: data
	@$(PYTHON_BIN) tools/demo.py

lint: setup
	@$(PYTHON_BIN) -m flake8 mmstim tools tests configs
