# Two commands on a fresh machine:   make demo   and   make test
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test test-slow ros test-ros clean

$(STAMP): setup.py pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of PyTorch from the local wheel; never a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/franet demo --out out/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow -p no:cacheprovider

# ROS 2 Jazzy from pip wheels (no ROS install): .venv-ros, msg/ and the node built with
# CMakeLists.txt into install/; see scripts/ros_from_wheels.sh and docs/ros.md.
ros: $(STAMP)
	bash scripts/ros_from_wheels.sh

# The node on real rclpy and Fast DDS, as a subprocess (python -P: the source tree's
# franet_ros, which has no generated msg/, must not shadow the installed one).
test-ros: ros
	bash -c '. install/setup.bash && python -P -m pytest -q -p no:cacheprovider \
		test/test_ros_node.py test/test_launch_tracker.py'

clean:
	rm -rf $(VENV) .venv-ros out build install *.egg-info
