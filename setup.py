"""Install the project and build the multi-scale deformable attention op as ``ops._C``.

The C++ CPU kernel is always built; on x86-64 it is compiled three times (baseline, AVX2,
AVX-512: ``ops/csrc/cpu/ms_deform_attn_cpu_<capability>.cpp``) and the best one the CPU supports
is chosen at run time. The CUDA kernel is added when a CUDA toolkit is found and either a GPU is
visible or ``FORCE_CUDA=1`` (set ``CUDA_HOME`` to build without a GPU). ``TORCH_CUDA_ARCH_LIST``
defaults to the visible GPU's architecture, or without a GPU to every architecture this torch was
built for, plus PTX for newer ones; set it to build fewer (CI: ``9.0``).
"""
import copy
import glob
import os
import platform

from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("ops", "csrc")
DEPLOY_REQUIREMENTS = os.path.join(ROOT, "tools", "deploy", "requirements.txt")  # also read by tools/setup_env.sh
# Extra flags of the sources built for one CPU capability (the flags ATen's own kernels use).
CPU_CAPABILITY_FLAGS = {
    "_avx2.cpp": ["-mavx2", "-mfma", "-mf16c"],
    "_avx512.cpp": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mf16c"],
}
# Host arithmetic as written: the pixel coordinate loc * size - 0.5 must round the same in every
# CPU build and on the GPU (ops/csrc/ms_deform_attn_sampling.h); vector FMAs are explicit.
CXX_FLAGS = ["-O3", "-fopenmp", "-ffp-contract=off"]


def _want_cuda():
    forced = os.environ.get("FORCE_CUDA", "0") == "1"
    return CUDA_HOME is not None and (forced or torch.cuda.is_available())


def _default_cuda_arch_list():
    """Every architecture torch was built for (e.g. "7.5;8.0;8.6;9.0;10.0;12.0+PTX")."""
    flags = torch._C._cuda_getArchFlags() if hasattr(torch._C, "_cuda_getArchFlags") else ""
    archs = sorted({name[3:] for name in flags.split() if name.startswith("sm_")}, key=int)
    if not archs:
        return "7.5;8.0;8.6;9.0+PTX"
    return ";".join(f"{arch[:-1]}.{arch[-1]}" for arch in archs) + "+PTX"


def _capability_sources_supported():
    machine = platform.machine().lower()
    return machine in ("x86_64", "amd64") and os.name != "nt"


def _requirements(path):
    """The requirement lines of a pip requirements file (comments and blank lines dropped)."""
    with open(path) as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


def _extensions():
    sources = sorted(glob.glob(os.path.join(CSRC, "**", "*.cpp"), recursive=True))
    if not sources:
        return []
    if not _capability_sources_supported():
        sources = [s for s in sources if not s.endswith(tuple(CPU_CAPABILITY_FLAGS))]
    macros = [(f"DETR_OPS_CPU_{suffix[1:-4].upper()}", None) for suffix in CPU_CAPABILITY_FLAGS
              if any(s.endswith(suffix) for s in sources)]
    cuda_sources = sorted(glob.glob(os.path.join(CSRC, "**", "*.cu"), recursive=True))
    extra = {"cxx": list(CXX_FLAGS)}
    if _want_cuda() and cuda_sources:
        if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
            os.environ["TORCH_CUDA_ARCH_LIST"] = _default_cuda_arch_list()
        extra["nvcc"] = ["-O3", "-DCUDA_HAS_FP16=1", "-D__CUDA_NO_HALF_OPERATORS__",
                         "-D__CUDA_NO_HALF_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__"]
        return [CUDAExtension("ops._C", sources + cuda_sources, include_dirs=[os.path.join(ROOT, CSRC)],
                              define_macros=macros + [("WITH_CUDA", None)], extra_compile_args=extra,
                              extra_link_args=["-fopenmp"])]
    return [CppExtension("ops._C", sources, include_dirs=[os.path.join(ROOT, CSRC)], define_macros=macros,
                         extra_compile_args=extra, extra_link_args=["-fopenmp"])]


class BuildExtensionWithCpuCapabilities(BuildExtension):
    """Compiles each ``*_avx2.cpp`` / ``*_avx512.cpp`` source with its own -m flags and links it
    after the baseline objects, so that any inline function both define is taken from a baseline
    object (the capability builds only run on CPUs that have the instructions)."""

    def build_extension(self, ext):
        special = [s for s in ext.sources if s.endswith(tuple(CPU_CAPABILITY_FLAGS))]
        ext.sources = [s for s in ext.sources if s not in special]
        objects = []
        for source in special:
            flags = next(f for suffix, f in CPU_CAPABILITY_FLAGS.items() if source.endswith(suffix))
            args = copy.deepcopy(ext.extra_compile_args)
            args = {"cxx": args["cxx"] + flags} if isinstance(args, dict) else args + flags
            objects += self.compiler.compile([source], output_dir=self.build_temp, macros=ext.define_macros,
                                             include_dirs=ext.include_dirs, extra_postargs=args,
                                             depends=ext.depends)
        ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


setup(
    name="detr_family",
    version="0.1.0",
    description="Detectron2 extension for DETR, Deformable DETR, Conditional DETR and SMCA",
    packages=find_packages(include=["ops*", "projects*", "deformable_detr*", "conditional_detr*", "smca*", "dino*",
                                    "dab_detr*"]),
    python_requires=">=3.10",
    ext_modules=_extensions(),
    extras_require={"deploy": _requirements(DEPLOY_REQUIREMENTS)},  # ONNX export and onnxruntime
    cmdclass={"build_ext": BuildExtensionWithCpuCapabilities},
    # Each method package registers itself (projects/registry.py) when imported; the core finds the
    # installed ones here. A user's own package plugs a method in by declaring it in this group.
    entry_points={"detr_family.methods": [
        "detr = projects.detr",
        "deformable_detr = deformable_detr",
        "conditional_detr = conditional_detr",
        "smca = smca",
        "dino = dino",
        "dab_detr = dab_detr",
    ]},
)
