"""Install the project and build the multi-scale deformable attention op as ``ops._C``.

The C++ CPU kernel is always built. The CUDA kernel is added when a CUDA toolkit is found and
either a GPU is visible or ``FORCE_CUDA=1`` (set ``CUDA_HOME`` and ``TORCH_CUDA_ARCH_LIST`` to build
without a GPU).
"""
import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("ops", "csrc")
DEPLOY_REQUIREMENTS = os.path.join(ROOT, "tools", "deploy", "requirements.txt")  # also read by tools/setup_env.sh


def _want_cuda():
    forced = os.environ.get("FORCE_CUDA", "0") == "1"
    return CUDA_HOME is not None and (forced or torch.cuda.is_available())


def _requirements(path):
    """The requirement lines of a pip requirements file (comments and blank lines dropped)."""
    with open(path) as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


def _extensions():
    cpp_sources = sorted(glob.glob(os.path.join(CSRC, "**", "*.cpp"), recursive=True))
    if not cpp_sources:
        return []
    cuda_sources = sorted(glob.glob(os.path.join(CSRC, "**", "*.cu"), recursive=True))
    extra = {"cxx": ["-O3", "-fopenmp"]}
    if _want_cuda() and cuda_sources:
        extra["nvcc"] = ["-O3", "-DCUDA_HAS_FP16=1", "-D__CUDA_NO_HALF_OPERATORS__",
                         "-D__CUDA_NO_HALF_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__"]
        return [CUDAExtension("ops._C", cpp_sources + cuda_sources, include_dirs=[os.path.join(ROOT, CSRC)],
                              define_macros=[("WITH_CUDA", None)], extra_compile_args=extra,
                              extra_link_args=["-fopenmp"])]
    return [CppExtension("ops._C", cpp_sources, include_dirs=[os.path.join(ROOT, CSRC)],
                         extra_compile_args=extra, extra_link_args=["-fopenmp"])]


setup(
    name="detr_family",
    version="0.1.0",
    description="Detectron2 extension for DETR, Deformable DETR, Conditional DETR and SMCA",
    packages=find_packages(include=["ops*", "projects*", "deformable_detr*", "conditional_detr*", "smca*"]),
    python_requires=">=3.10",
    ext_modules=_extensions(),
    extras_require={"deploy": _requirements(DEPLOY_REQUIREMENTS)},  # ONNX export and onnxruntime
    cmdclass={"build_ext": BuildExtension},
)
