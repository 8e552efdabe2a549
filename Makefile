# mmstim: the two commands (README.md) and their helpers.
#   make demo   prepare Fashion-MNIST, train a baseline and an ST++ ResNet-14 on
#               CPU at the same time, print their subnets side by side
#   make test   run the whole test suite
# Both create or complete the environment first (idempotent): `make setup`
# installs what classification needs and compiles nothing (mmcv-lite);
# `make setup-det` adds mmcv's compiled ops, which MMDet's detectors and so
# the test suite need (compiled once, 34 minutes on 2 cores; the wheel is
# cached, install/setup_env.sh).
VENV ?= $(CURDIR)/.venv
PYTHON_BIN := $(VENV)/bin/python
export VENV

.PHONY: setup setup-det test demo data lint

setup:
	@bash install/setup_env.sh

setup-det:
	@bash install/setup_env.sh --with-ops

# Fashion-MNIST comes from the Debian package dataset-fashion-mnist (installed
# here when its folder is missing, with sudo when not root), then the script
# checks it and writes data/fashion_mnist. Python never calls apt-get.
FASHION_MNIST_DEB := dataset-fashion-mnist
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
APT_INSTALL := apt-get update && apt-get install -y $(FASHION_MNIST_DEB)

data: setup
	@if [ ! -d $(FASHION_MNIST_DIR) ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else sudo=none; fi; \
	  if [ "$$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1 || \
	     ! { $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update && \
	         $$sudo env DEBIAN_FRONTEND=noninteractive \
	           apt-get install -y $(FASHION_MNIST_DEB); }; then \
	    echo "error: cannot install $(FASHION_MNIST_DEB); run as root:" \
	      "$(APT_INSTALL)" >&2; \
	    echo "or run: $(PYTHON_BIN)" \
	      "tools/dataset_converters/prepare_fashion_mnist.py --source DIR" >&2; \
	    exit 1; \
	  fi; \
	fi
	@$(PYTHON_BIN) tools/dataset_converters/prepare_fashion_mnist.py

test: setup-det
	@$(PYTHON_BIN) -m pytest tests -q -p no:cacheprovider --durations=10

# MMEngine imports pkg_resources: its deprecation warning means nothing here;
# nor does mmcv-lite's, that an op no classifier uses is missing.
DEMO_WARNINGS := ignore:pkg_resources is deprecated,ignore:Fail to import ``MultiScaleDeformableAttention``
demo: data
	@PYTHONWARNINGS='$(DEMO_WARNINGS)' $(PYTHON_BIN) tools/demo.py

lint: setup
	@$(PYTHON_BIN) -m flake8 mmstim tools tests configs
