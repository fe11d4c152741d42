"""Packages of the StormSeg wheel (the rest of the metadata is in pyproject.toml).

The engine (`seg_core`) is found as usual. The app and the shipped files stay at the top of the
repository, where `streamlit run app.py`, the README and the tests expect them, and are mapped
into the wheel: the app as `stormseg_app/` (app.py, app_pages/, ui/, .streamlit/config.toml),
the demo model, the real-ground starter and the sample photos under `seg_core/assets/`. `seg_core.core.paths` finds them
in either place.
"""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

MAPPED = {
    "stormseg_app": ".",
    "stormseg_app.app_pages": "app_pages",
    "stormseg_app.ui": "ui",
    "seg_core.assets.demo": "checkpoints/demo",
    "seg_core.assets.starter": "checkpoints/starter",
    "seg_core.assets.samples": "samples",
}
# Python files in mapped folders that are not part of the app: this file and a generator script.
LEFT_OUT = {("stormseg_app", "setup"), ("seg_core.assets.samples", "make_samples")}


class BuildPy(build_py):
    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if (m[0], m[1]) not in LEFT_OUT]


setup(
    packages=find_packages(include=["seg_core", "seg_core.*"]) + list(MAPPED),
    package_dir=MAPPED,
    package_data={
        "stormseg_app": [".streamlit/config.toml"],
        "seg_core.assets.demo": ["best.pt"],
        "seg_core.assets.starter": ["real-ground.pt"],
        "seg_core.assets.samples": ["*.jpg"],
    },
    cmdclass={"build_py": BuildPy},
)
