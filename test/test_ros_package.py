# Copyright 2026 The franet authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The ROS package holds together: parameters, YAML, launch file, package.xml, CMakeLists.

None of this needs ROS: files are parsed (ast, XML, YAML, CMake text) and compared with the
single parameter table in franet_ros/params.py and with what the code imports.
"""
import ast
import dataclasses
from pathlib import Path
import re
import sys
import xml.etree.ElementTree as ET

import pytest

from franet_core.tracker import TrackerConfig
from franet_ros import params

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "launch" / "tracker.launch.py"
CMAKE = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
PACKAGE = ET.parse(ROOT / "package.xml").getroot()
#: Python sources the colcon package installs or runs; package.xml and setup.py cover them.
ROS_SOURCES = sorted([*(ROOT / "franet_ros").glob("*.py"), *(ROOT / "franet_core").rglob("*.py"),
                      LAUNCH, ROOT / "test" / "test_launch_tracker.py",
                      ROOT / "test" / "test_ros_node.py"])
#: Distribution name -> module name where they differ.
DIST_MODULES = {"opencv-python-headless": "cv2", "scikit-image": "skimage", "pyyaml": "yaml",
                "pytest-timeout": "pytest_timeout"}
#: Python module -> rosdep key for the non-ROS modules rosdep provides.
ROSDEP_KEYS = {"numpy": "python3-numpy", "yaml": "python3-yaml", "pytest": "python3-pytest"}
#: Dependencies that are build/test infrastructure, not imported by our Python code.
INFRASTRUCTURE = {"ament_cmake", "ament_cmake_python", "rosidl_default_generators",
                  "rosidl_default_runtime", "ament_cmake_pytest", "launch_testing_ament_cmake",
                  "ament_copyright", "ament_flake8", "ament_pep257", "geometry_msgs",
                  "std_msgs", "lifecycle_msgs"}


def top_level_imports(path: Path) -> set[str]:
    """Top-level module names imported anywhere in ``path`` (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def package_deps(*tags: str) -> set[str]:
    return {e.text.strip() for tag in tags for e in PACKAGE.findall(tag)}


def pip_modules() -> set[str]:
    """Modules installed by ``pip install -e .[dev]`` (setup.py), plus our own packages."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "setup")
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords
              if k.arg in ("install_requires", "extras_require")}
    specs = kwargs["install_requires"] + [r for v in kwargs["extras_require"].values()
                                          for r in v]
    dists = {re.split(r"[<>=!~\[ ]", spec, maxsplit=1)[0].lower() for spec in specs}
    own = {"franet_core", "franet_ros"}
    return {DIST_MODULES.get(d, d.replace("-", "_")) for d in dists} | own


# ---------------------------------------------------------------- parameters and YAML


def test_yaml_lists_every_parameter_with_its_default_and_type():
    path = ROOT / "config" / "tracker.yaml"
    values = params.load_params_file(path)
    assert set(values) == set(params.BY_NAME)
    for name, value in values.items():
        default = params.BY_NAME[name].default
        assert value == default and type(value) is type(default), name
    assert path.read_text(encoding="utf-8") == params.render_yaml(), (
        "config/tracker.yaml is stale: python -m franet_ros.params > config/tracker.yaml")


def test_every_tracker_setting_is_a_parameter_with_the_dataclass_default():
    for f in dataclasses.fields(TrackerConfig):
        param = params.BY_NAME[f"tracker.{f.name}"]
        assert param.default == getattr(TrackerConfig(), f.name)
        assert param.description and "TrackerConfig" not in param.description[:12]


def test_every_parameter_is_documented_with_type_and_sane_default():
    for p in params.PARAMETERS:
        assert p.description.strip(), p.name
        assert p.validate(p.default) is None, p.name


@pytest.mark.parametrize("name,value,reason", [
    ("threshold", 1.5, "threshold=1.5 is outside [0.0, 0.99]"),
    ("threshold", "0.5", "threshold must be float, got str"),
    ("input_size", 100, "input_size=100 must be 0 + a multiple of 32"),
    ("input_size", -32, "outside"),
    ("device", "tpu", "device='tpu' is not one of ['cuda', 'cpu']"),
    ("qos_reliability", "sometimes", "not one of ['best_effort', 'reliable']"),
    ("publish_overlay", 1, "publish_overlay must be bool, got int"),
    ("max_rate_hz", float("nan"), "max_rate_hz must be finite"),
    ("tracker.max_predicted_frames", -1, "outside"),
    ("tracker.gate_px", True, "tracker.gate_px must be float, got bool"),
    ("no_such_parameter", 1, "unknown parameter 'no_such_parameter'"),
])
def test_bad_values_are_rejected_with_a_reason(name, value, reason):
    reasons = params.validate({name: value})
    assert len(reasons) == 1 and reason in reasons[0]
    with pytest.raises(ValueError, match=re.escape(reason)):
        params.NodeSettings.from_values({name: value})


def test_integers_are_accepted_for_float_parameters():
    assert params.validate({"threshold": 1, "max_rate_hz": 30}) == [
        "threshold=1.0 is outside [0.0, 0.99]"]
    assert params.NodeSettings.from_values({"max_rate_hz": 30})["max_rate_hz"] == 30.0


def test_settings_map_onto_the_pipeline_config():
    cfg = params.NodeSettings.from_values({}).pipeline_config()
    assert cfg.input_size is None and cfg.pixel_spacing_mm is None
    assert cfg.threshold is None  # the weights' own (FramePipeline.from_weights)
    assert cfg.tracker == TrackerConfig()
    cfg = params.NodeSettings.from_values({
        "input_size": 512, "pixel_spacing_mm": 0.15, "threshold": 0.3,
        "tracker.max_predicted_frames": 9, "tracker.gate_px": 12.5}).pipeline_config()
    assert (cfg.input_size, cfg.pixel_spacing_mm, cfg.threshold) == (512, 0.15, 0.3)
    assert cfg.tracker.max_predicted_frames == 9 and cfg.tracker.gate_px == 12.5


def test_params_file_sections_and_errors(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("/**:\n  ros__parameters:\n    threshold: 0.4\n"
                    "/robot/tracker_node:\n  ros__parameters:\n    tracker:\n"
                    "      max_wires: 1\n    threshold: 0.6\n"
                    "other_node:\n  ros__parameters:\n    threshold: 0.9\n")
    assert params.load_params_file(good) == {"threshold": 0.6, "tracker.max_wires": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracker_node:\n  ros__parameters:\n    device: gpu\n    thresold: 0.5\n")
    with pytest.raises(ValueError, match=r"device='gpu'.*unknown parameter 'thresold'"):
        params.load_params_file(bad)


# ---------------------------------------------------------------------- launch file


def launch_calls() -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(LAUNCH.read_text(encoding="utf-8")))
            if isinstance(n, ast.Call)]


def call_name(call: ast.Call) -> str:
    return getattr(call.func, "id", getattr(call.func, "attr", ""))


def test_every_launch_argument_is_described_and_used():
    calls = launch_calls()
    declared = {}
    for c in calls:
        if call_name(c) == "DeclareLaunchArgument":
            kwargs = {k.arg: k.value for k in c.keywords}
            assert "description" in kwargs and "default_value" in kwargs
            declared[c.args[0].value] = kwargs
    used = {c.args[0].value for c in calls if call_name(c) == "LaunchConfiguration"}
    assert set(declared) == used == {"image_topic", "namespace", "params_file", "device",
                                     "autostart", "fastdds_profile"}
    assert "eval(" not in LAUNCH.read_text(encoding="utf-8")


def test_launch_starts_the_installed_lifecycle_executable_with_valid_overrides():
    node = [c for c in launch_calls() if call_name(c) == "LifecycleNode"]
    assert len(node) == 1
    kwargs = {k.arg: k.value for k in node[0].keywords}
    assert kwargs["package"].value == PACKAGE.findtext("name") == "franet_ros"
    assert kwargs["name"].value == params.NODE_NAME
    executable = kwargs["executable"].value
    assert re.search(rf"RENAME\s+{executable}\b", CMAKE)
    overrides = ast.literal_eval(ast.unparse(kwargs["parameters"].elts[1]).replace(
        "LaunchConfiguration('device')", "'cpu'").replace(
        "ParameterValue(LaunchConfiguration('autostart'), value_type=bool)", "True"))
    assert params.validate(overrides) == []
    assert "'config', 'tracker.yaml'" in ast.unparse(ast.parse(LAUNCH.read_text()))
    assert "'config', 'fastdds.xml'" in ast.unparse(ast.parse(LAUNCH.read_text()))
    choices = {c.args[0].value: ast.literal_eval(k.value) for c in launch_calls()
               if call_name(c) == "DeclareLaunchArgument" for k in c.keywords
               if k.arg == "choices"}
    assert choices["device"] == list(params.BY_NAME["device"].choices)


def test_launch_gives_its_processes_the_fastdds_profile():
    calls = [c for c in launch_calls() if call_name(c) == "SetEnvironmentVariable"]
    assert calls and all(ast.unparse(c.args[1]) == "LaunchConfiguration('fastdds_profile')"
                         for c in calls)
    source = LAUNCH.read_text(encoding="utf-8")
    assert "FASTRTPS_DEFAULT_PROFILES_FILE" in source  # Fast DDS 2 (Humble, Jazzy)
    assert "FASTDDS_DEFAULT_PROFILES_FILE" in source  # Fast DDS 3


FASTDDS_NS = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}


def test_fastdds_profile_has_shared_memory_room_for_large_frames():
    root = ET.parse(ROOT / "config" / "fastdds.xml").getroot()
    transports = {t.findtext("f:transport_id", namespaces=FASTDDS_NS):
                  t for t in root.iterfind(".//f:transport_descriptor", FASTDDS_NS)}
    kinds = {tid: t.findtext("f:type", namespaces=FASTDDS_NS) for tid, t in transports.items()}
    assert sorted(kinds.values()) == ["SHM", "UDPv4"]  # same host, and other hosts
    shm = next(t for t in transports.values() if t.findtext("f:type", namespaces=FASTDDS_NS)
               == "SHM")
    # At least two 1024x1024 mono16 frames (2 MiB each) in flight.
    assert int(shm.findtext("f:segment_size", namespaces=FASTDDS_NS)) >= 4 * 2**20
    participant = root.find("f:participant", FASTDDS_NS)
    assert participant.get("is_default_profile") == "true"
    rtps = participant.find("f:rtps", FASTDDS_NS)
    assert rtps.findtext("f:useBuiltinTransports", namespaces=FASTDDS_NS) == "false"
    used = [e.text for e in rtps.iterfind("f:userTransports/f:transport_id", FASTDDS_NS)]
    assert sorted(used) == sorted(transports)


# ---------------------------------------------------------------- package.xml / CMake


def test_package_xml_is_format_3_ament_cmake_interface_package():
    assert PACKAGE.get("format") == "3"
    assert PACKAGE.findtext("export/build_type") == "ament_cmake"
    assert PACKAGE.findtext("member_of_group") == "rosidl_interface_packages"
    assert re.search(r"project\(\s*franet_ros\s*\)", CMAKE)


def test_package_xml_covers_every_import_of_the_ros_code():
    deps = package_deps("depend", "exec_depend", "test_depend", "build_depend")
    provided = set(sys.stdlib_module_names) | pip_modules()
    for path in ROS_SOURCES:
        for module in top_level_imports(path) - provided:
            assert ROSDEP_KEYS.get(module, module) in deps, f"{path.name} imports {module}"


def test_every_package_xml_dependency_is_used():
    imported = set().union(*(top_level_imports(p) for p in ROS_SOURCES))
    keys = {ROSDEP_KEYS.get(m, m) for m in imported}
    unused = package_deps("depend", "exec_depend", "test_depend") - keys - INFRASTRUCTURE
    assert not unused
    assert {"geometry_msgs", "std_msgs"} <= package_deps("depend")  # message DEPENDENCIES


def test_cmake_generates_every_message_and_installs_what_launch_needs():
    listed = set(re.findall(r'"msg/(\w+)\.msg"', CMAKE))
    assert listed == {p.stem for p in (ROOT / "msg").glob("*.msg")}
    assert re.search(r"DEPENDENCIES\s+geometry_msgs\s+std_msgs", CMAKE)
    assert re.search(r"install\(DIRECTORY launch config\s+DESTINATION share/\$\{PROJECT_NAME\}",
                     CMAKE)
    assert re.search(r"install\(DIRECTORY franet_core franet_ros\s+DESTINATION "
                     r"\$\{PYTHON_INSTALL_DIR\}", CMAKE)
    assert re.search(r"install\(PROGRAMS franet_ros/tracker_node.py\s+DESTINATION "
                     r"lib/\$\{PROJECT_NAME\}", CMAKE)
    code = "\n".join(line.split("#")[0] for line in CMAKE.splitlines())
    assert "ament_python_install_package(" not in code  # ros2/rosidl_python#141
    assert not (ROOT / "franet_ros" / "msg").exists()  # the generated package owns .msg
    for name in re.findall(r"\b(test_\w+)\b", CMAKE):
        assert (ROOT / "test" / f"{name}.py").is_file(), name


def test_node_executable_is_a_python3_script_with_main():
    source = (ROOT / "franet_ros" / "tracker_node.py").read_text(encoding="utf-8")
    assert source.startswith("#!/usr/bin/env python3\n")
    assert 'if __name__ == "__main__":\n    sys.exit(main())' in source
    assert "rclpy.try_shutdown()" in source and "node.destroy_node()" in source


#: Instance attributes and properties that rclpy's Node (Humble and Jazzy
#: rclpy/node.py ``Node.__init__``) and LifecycleNodeMixin (rclpy/lifecycle/node.py) keep
#: for themselves. A subclass that assigns one of them silently replaces rclpy's state:
#: ``self._publishers = {}`` makes every later create_publisher() fail with
#: "'dict' object has no attribute 'append'".
RCLPY_NODE_ATTRIBUTES = frozenset({
    "_context", "_parameters", "_publishers", "_subscriptions", "_clients", "_services",
    "_timers", "_guards", "_default_callback_group", "_parameters_callbacks",
    "_pre_set_parameters_callbacks", "_on_set_parameters_callbacks",
    "_post_set_parameters_callbacks", "_rate_group", "_allow_undeclared_parameters",
    "_parameter_overrides", "_descriptors", "_logger", "_parameter_event_publisher", "_clock",
    "_time_source", "_parameter_service", "_logger_service", "_type_description_service",
    "_callbacks", "_managed_entities", "_state_machine", "_service_change_state",
    "_service_get_state", "_service_get_available_states",
    "_service_get_available_transitions", "_service_get_transition_graph",
    "publishers", "subscriptions", "clients", "services", "timers", "guards", "waitables",
    "executor", "context", "default_callback_group", "handle",
})


def test_node_attributes_do_not_shadow_rclpy_node_state():
    tree = ast.parse((ROOT / "franet_ros" / "tracker_node.py").read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TrackerNode")
    assigned = {t.attr for n in ast.walk(cls)
                if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                for target in (n.targets if isinstance(n, ast.Assign) else [n.target])
                for t in ast.walk(target)
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                and t.value.id == "self"}
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert "_outputs" in assigned  # the walk does find the node's own attributes
    assert not (assigned | methods) & RCLPY_NODE_ATTRIBUTES


# ------------------------------------------------------------------- import boundaries


def ros_modules(names: set[str]) -> set[str]:
    return {n for n in names if n in {"rclpy", "launch", "launch_ros", "rcl_interfaces",
                                      "ament_index_python", "builtin_interfaces"}
            or n.endswith("_msgs")}


def test_franet_core_never_imports_ros():
    for path in (ROOT / "franet_core").rglob("*.py"):
        assert not ros_modules(top_level_imports(path)), path
        assert "franet_ros.msg" not in path.read_text(encoding="utf-8"), path


def test_only_the_node_module_imports_rclpy_or_message_packages():
    for path in (ROOT / "franet_ros").glob("*.py"):
        found = ros_modules(top_level_imports(path))
        if path.name == "tracker_node.py":
            assert "rclpy" in found
        else:
            assert not found, f"{path.name} imports {found}"


# ------------------------------------------------------------------ messages and docs


def test_every_message_field_is_documented():
    for path in (ROOT / "msg").glob("*.msg"):
        previous = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#")[0].strip()
            if code:
                assert "#" in line or previous.startswith("#"), f"{path.name}: {line}"
            previous = line.strip()


def test_docs_list_every_parameter_and_topic():
    docs = (ROOT / "docs" / "ros.md").read_text(encoding="utf-8")
    for p in params.PARAMETERS:
        assert f"`{p.name}`" in docs, p.name
    for topic in ("image", "mask", "overlay", "tip_pose", "centerline", "guidewires",
                  "/diagnostics"):
        assert f"`{topic}`" in docs, topic
