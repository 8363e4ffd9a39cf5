# Two commands do everything on a fresh machine (see README):
#   make demo   - install, then run the main job on the built-in data
#   make test   - install, then run the test suite
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test complexity

install:
	@bash tools/install.sh
	@bash tools/install-system.sh

# the demo's latency page: this machine's timing of the latency table's rows, official
# computation and --optimize, on a few built-in images (never compared with the paper's A100)
DEMO_LATENCY := UMIX_LATENCY_WARMUP=1 UMIX_LATENCY_IMAGES=2

demo: install
	$(BIN)/run-experiment table1 --profile smoke
	for t in ablation_attention ablation_fuse ablation_kv ablation_unet; do \
	  $(BIN)/run-experiment $$t --profile smoke --stages complexity || exit 1; done
	$(DEMO_LATENCY) $(BIN)/run-experiment latency --profile smoke --stages latency
	$(DEMO_LATENCY) $(BIN)/run-experiment latency --profile smoke --stages latency --optimize
	$(BIN)/run-experiment report all --profile smoke

complexity: install
	$(BIN)/run-experiment table1 --stages complexity --profile paper

# pytest-xdist workers: one per CPU plus one, as the suite's SLURM jobs, subprocesses and
# polls leave CPUs idle (2 cores: 2 workers 694 s, 3 workers 614 s, 4 workers 664 s; docs/performance.md)
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
