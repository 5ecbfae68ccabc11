# mmrskd developer commands. Everything runs inside ./.venv.
PY := .venv/bin/python
ENV_STAMP := .venv/.mmrskd-env-ok

.PHONY: env demo test test-fast clean-demo

# Create .venv with the pinned stack (compiles mmcv once per machine and
# caches the wheel under ~/.cache/mmrskd/wheels). Idempotent.
env:
	bash tools/setup_env.sh .venv
	touch $(ENV_STAMP)

$(ENV_STAMP): requirements/runtime.txt requirements/tests.txt requirements/deploy.txt \
		requirements/rotated.txt setup.py
	bash tools/setup_env.sh .venv
	touch $(ENV_STAMP)

# Train on a generated aerial-scene set and print the results table
# (make demo DEMO_ARGS=--verbose shows the runner logs).
demo: $(ENV_STAMP)
	$(PY) tools/demo.py $(DEMO_ARGS)

# The full test suite, in TEST_WORKERS processes (pytest-xdist) on a 2-core
# machine: 2494 tests in 14.2 min on a quiet AMD EPYC (AVX2), in CI's clean
# clone (runs of the same code there vary by about 1.5 min); 2501 tests in
# 8.0 min on an AMD EPYC with AVX-512, beside nothing else. Each worker,
# and every tool it starts, uses its share of the cores (tests/conftest.py;
# OMP_NUM_THREADS set by the caller wins): with every worker on all cores
# the suite took 19.3 min there.
TEST_WORKERS ?= 2
test: $(ENV_STAMP)
	$(PY) -m pytest tests -q -p no:cacheprovider -n $(TEST_WORKERS)

clean-demo:
	rm -rf work_dirs/demo data/demo_scenes
