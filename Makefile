# Two commands do everything on a fresh machine (see README):
#   make demo   - install, then run the main job on the built-in data
#   make test   - install, then run the test suite
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test complexity

install:
	@bash tools/install.sh
	@bash tools/install-system.sh

demo: install
	$(BIN)/run-experiment table1 --profile smoke
	$(BIN)/run-experiment report all --profile smoke

complexity: install
	$(BIN)/run-experiment table1 --stages complexity --profile paper

test: install
	$(BIN)/python -m pytest -q
