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

"""Launch franet's guidewire tracker_node (a lifecycle node) with its parameter file.

Example::

    ros2 launch franet_ros tracker.launch.py image_topic:=/xray/image_raw device:=cpu

The node configures and activates itself when ``autostart`` is true; otherwise drive it
with ``ros2 lifecycle set /tracker_node configure`` and ``... activate``.

Large frames: the processes this launch starts load the Fast DDS profile ``fastdds_profile``
(default: an already exported FASTRTPS_DEFAULT_PROFILES_FILE, else the installed
config/fastdds.xml, a 16 MiB shared-memory segment). A camera driver started elsewhere
needs the same profile, the sending side above all (docs/ros.md).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and the lifecycle node."""
    share = get_package_share_directory("franet_ros")
    default_params = os.path.join(share, "config", "tracker.yaml")
    default_profile = os.path.join(share, "config", "fastdds.xml")
    arguments = [
        DeclareLaunchArgument(
            "image_topic", default_value="image",
            description="sensor_msgs/Image topic with the X-ray frames (remapped onto the "
                        "node's 'image' subscription)"),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="Namespace of the node and of its relative topics"),
        DeclareLaunchArgument(
            "params_file", default_value=default_params,
            description="ROS 2 parameter YAML for tracker_node (default: the installed "
                        "config/tracker.yaml)"),
        DeclareLaunchArgument(
            "device", default_value="cuda", choices=["cuda", "cpu"],
            description="Inference device (overrides params_file); cuda falls back to cpu "
                        "with a warning when no GPU is usable"),
        DeclareLaunchArgument(
            "autostart", default_value="true", choices=["true", "false"],
            description="Configure and activate the lifecycle node at start-up (overrides "
                        "params_file)"),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=EnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE",
                                              default_value=default_profile),
            description="Fast DDS XML profile for the launched processes (default: the "
                        "exported FASTRTPS_DEFAULT_PROFILES_FILE, else the installed "
                        "config/fastdds.xml, which delivers large frames)"),
    ]
    # Fast DDS 2.x (Humble, Jazzy) reads the first name, Fast DDS 3 the second.
    profile = [SetEnvironmentVariable(name, LaunchConfiguration("fastdds_profile"))
               for name in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")]
    tracker = LifecycleNode(
        package="franet_ros",
        executable="tracker_node",
        name="tracker_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "device": LaunchConfiguration("device"),
                "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool),
            },
        ],
        remappings=[("image", LaunchConfiguration("image_topic"))],
        output="screen",
    )
    return LaunchDescription(arguments + profile + [tracker])
