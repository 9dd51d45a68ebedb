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

"""pip install of franet_core and the ``franet`` CLI.

The ROS 2 package (messages, node, launch) is built by colcon through CMakeLists.txt;
this file only serves ``pip install -e .`` for the framework-free core.
"""
from setuptools import find_packages, setup

setup(
    name="franet",
    version="0.1.0",
    description="Real-time guidewire segmentation and tracking in X-ray fluoroscopy (FRA-Net)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["franet_core", "franet_core.*", "franet_ros", "franet_ros.*"]),
    package_data={"franet_core": ["weights/*.safetensors", "weights/*.json",
                                 "sim/background_split.yaml"]},
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "opencv-python-headless>=4.8",
        "safetensors>=0.4",
        "scikit-image>=0.21",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "pyyaml>=6.0",
        "rosbags>=0.10",
        "imageio>=2.31",
        "onnx>=1.15",
        "onnxruntime>=1.17",
        "tensorboard>=2.14",
    ],
    extras_require={"dev": ["pytest>=7", "hypothesis>=6", "pytest-timeout>=2"]},
    entry_points={"console_scripts": ["franet = franet_core.cli:main"]},
)
