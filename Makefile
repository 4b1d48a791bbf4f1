# Developer and CI entry points. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
# Stop a recipe at its first failing command, pipes included.
.SHELLFLAGS := -eu -o pipefail -c
# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV ?= .venv
# The Jazzy lane: a second environment with ROS 2 Jazzy's rclpy (PyPI ros-jazzy-* wheels) instead
# of Kilted's, for the tests that talk to ROS (nodes, launch runner, bag tools, compatibility, the
# demo). A sourced ROS host's ROS_DISTRO is dropped: the lanes run the wheels' rclpy, not the host's.
JAZZY_VENV ?= .venv-jazzy
JAZZY_TESTS ?= test/nodes test/launching test/test_ros_environment.py test/test_distro.py test/data \
	test/compat test/train/test_shipped_model.py::test_demo_through_the_ros_nodes \
	test/train/test_shipped_drone_model.py::test_drone_demo_through_the_ros_nodes \
	test/view/test_demo_view.py test/view/test_layout.py test/train/test_px4_demo.py
PYTEST_ARGS ?=
# The suite runs on two pytest-xdist workers, one test file at a time each (test/conftest.py gives
# each worker its own ROS domain and starts the slow files first). PYTEST_WORKERS=0 runs it in one.
PYTEST_WORKERS ?= 2

VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip
CONSTRAINTS := requirements/constraints.txt
# pip warns once per package about index locations in this machine's pip config that do not hold
# it (hundreds of lines per install); drop only that line. pipefail keeps pip's exit status.
PIP_NOISE_FILTER := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
# Written only after every install step succeeded; reinstall when packaging inputs change.
VENV_STAMP := $(VENV)/.installed
JAZZY_STAMP := $(JAZZY_VENV)/.installed
# The editable install maps the top-level package found at install time, so reinstall once the
# package appears (wildcard: no error while it does not exist yet).
PACKAGE_INIT := $(wildcard liquid_control/__init__.py)
# Message packages PyPI lacks (px4_msgs, ackermann_msgs), built from msgs/ into each test venv.
MSG_SOURCES := $(shell find msgs -type f -not -path '*/__pycache__/*') requirements/message_build_kilted.txt \
	requirements/message_build_jazzy.txt
VENV_MSGS := $(VENV)/.msgs-built
JAZZY_MSGS := $(JAZZY_VENV)/.msgs-built

.PHONY: venv venv-jazzy test test-kilted test-jazzy test-nightly demo demo-drone clean

venv: $(VENV_STAMP) $(VENV_MSGS)

$(VENV_STAMP): setup.py setup.cfg package.xml $(CONSTRAINTS) $(PACKAGE_INIT)
	@rm -f $@
	@[ -x $(VENV_PYTHON) ] || { echo "venv: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "venv: upgrading pip"
	@$(PIP) install -q --upgrade pip $(PIP_NOISE_FILTER)
	@# torch first, by exact version, so pip takes the CPU wheel on disk; must match $(CONSTRAINTS).
	@echo "venv: installing torch==2.13.0"
	@$(PIP) install -q -c $(CONSTRAINTS) torch==2.13.0 $(PIP_NOISE_FILTER)
	@echo "venv: installing liquid_control (editable) with extras ros,test"
	@$(PIP) install -q -c $(CONSTRAINTS) -e '.[ros,test]' $(PIP_NOISE_FILTER)
	@touch $@

venv-jazzy: $(JAZZY_STAMP) $(JAZZY_MSGS)

$(JAZZY_STAMP): setup.py setup.cfg package.xml $(CONSTRAINTS) $(PACKAGE_INIT)
	@rm -f $@
	@[ -x $(JAZZY_VENV)/bin/python ] || { echo "venv-jazzy: creating $(JAZZY_VENV) with $(PYTHON)"; $(PYTHON) -m venv $(JAZZY_VENV); }
	@$(JAZZY_VENV)/bin/python -m pip install -q --upgrade pip $(PIP_NOISE_FILTER)
	@echo "venv-jazzy: installing torch==2.13.0"
	@$(JAZZY_VENV)/bin/python -m pip install -q -c $(CONSTRAINTS) torch==2.13.0 $(PIP_NOISE_FILTER)
	@echo "venv-jazzy: installing liquid_control (editable) with extras jazzy,test (ROS 2 Jazzy wheels)"
	@$(JAZZY_VENV)/bin/python -m pip install -q -c $(CONSTRAINTS) -e '.[jazzy,test]' $(PIP_NOISE_FILTER)
	@touch $@

# The test environments' message packages (the script skips a build it already made).
$(VENV_MSGS): $(VENV_STAMP) $(MSG_SOURCES)
	$(VENV_PYTHON) msgs/build.py $(VENV) kilted

$(JAZZY_MSGS): $(JAZZY_STAMP) $(MSG_SOURCES)
	$(JAZZY_VENV)/bin/python msgs/build.py $(JAZZY_VENV) jazzy

# Both lanes, each to the end (a failure in the first does not hide the second); CI runs this.
test:
	@status=0; \
	$(MAKE) --no-print-directory test-kilted || status=1; \
	$(MAKE) --no-print-directory test-jazzy || status=1; \
	exit $$status

# pytest exits 5 when it collected no test; a run that tests nothing must not pass. The slowest
# tests are listed at the end of each lane, for whoever keeps the suite's time in check.
define run_pytest
	@status=0; \
	$(1) -m pytest -p no:cacheprovider --durations=15 -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS) $(2) || status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo "make: pytest collected no tests (exit 5); failing, since nothing was checked." >&2; \
		exit 1; \
	fi; \
	exit $$status
endef

test-kilted: $(VENV_STAMP) $(VENV_MSGS)
	@echo "== test lane: ROS 2 Kilted ($(VENV)), the whole suite"
	$(call run_pytest,env -u ROS_DISTRO LIQUID_CONTROL_EXPECT_DISTRO=kilted $(VENV_PYTHON),test)

# The safety property tests with many more examples (30,000 sequences; about 5 minutes).
test-nightly: $(VENV_STAMP)
	$(call run_pytest,env HYPOTHESIS_PROFILE=nightly $(VENV_PYTHON),test/runtime/test_safety_properties.py)

test-jazzy: $(JAZZY_STAMP) $(JAZZY_MSGS)
	@echo "== test lane: ROS 2 Jazzy ($(JAZZY_VENV)), the ROS-facing tests"
	$(call run_pytest,env -u ROS_DISTRO LIQUID_CONTROL_EXPECT_DISTRO=jazzy $(JAZZY_VENV)/bin/python,$(JAZZY_TESTS))

demo: $(VENV_STAMP)
	$(VENV_PYTHON) -m liquid_control demo

demo-drone: $(VENV_STAMP)
	$(VENV_PYTHON) -m liquid_control demo --world drone

clean:
	rm -rf $(VENV) $(JAZZY_VENV) .pytest_cache build *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
