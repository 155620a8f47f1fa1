"""Export of an ``ExportableDetector``: a torch.export program (``.pt2``) and an ONNX file, both
with dynamic batch, height and width, and the settings a runner needs to preprocess images."""
import json
from typing import Dict

import torch
from torch import Tensor
from torch.export import Dim, ExportedProgram
from torch.nn.attention import SDPBackend, sdpa_kernel

from projects.deploy.detector import OUTPUT_NAMES, ExportableDetector
from projects.deploy.requirements import require_deploy_extra

MAX_BATCH = 1024
METADATA_FILE = "detr_family.json"  # inside the .pt2 archive; ONNX keeps the same keys as metadata_props
AOTI_METADATA_PREFIX = "detr_family."  # AOTInductor packages keep the keys (prefixed) beside the compiler's own


def dynamic_shapes() -> Dict[str, Dict[int, object]]:
    """Batch from 1; height and width dynamic with the range the model allows (each feature level
    must be at least 2 pixels wide: 65 pixels with a stride-64 level, 33 with stride 32)."""
    batch = Dim("batch", min=1, max=MAX_BATCH)
    return {"images": {0: batch, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC}, "image_sizes": {0: batch}}


def export_program(detector: ExportableDetector, images: Tensor, image_sizes: Tensor) -> ExportedProgram:
    """torch.export of the detector on an example batch (its sizes do not matter; batch >= 2 is
    best, a batch of one exports as well). The registered deformable attention op stays one node."""
    with torch.no_grad():
        program = torch.export.export(detector, (images, image_sizes), dynamic_shapes=dynamic_shapes())
    # Inference leaves the aux outputs unused; their `unbind` nodes stay in the graph without outputs,
    # which torch.export.load then fails to deserialize.
    program.graph_module.graph.eliminate_dead_code()
    program.graph_module.recompile()
    return program


def save_program(program: ExportedProgram, path: str, metadata: Dict[str, object]) -> None:
    """Save ``program`` with ``metadata`` (see ``runner_metadata``) as an extra file of the archive."""
    torch.export.save(program, path, extra_files={METADATA_FILE: json.dumps(metadata)})


def load_program(path: str):
    """(ExportedProgram, metadata). ``import ops`` first when the model uses the deformable attention op."""
    extra_files = {METADATA_FILE: ""}
    program = torch.export.load(path, extra_files=extra_files)
    return program, json.loads(extra_files[METADATA_FILE] or "{}")


def export_onnx(program: ExportedProgram, images: Tensor, image_sizes: Tensor, path: str,
                metadata: Dict[str, object], lowering: str = "gather") -> None:
    """Convert ``program`` to an ONNX file at ``path`` (opset 18). The deformable attention op is
    lowered to standard operators by ``lowering`` ("gather", the default, or "gridsample": see
    ``onnx_lowering``); ``metadata`` goes to metadata_props. Needs the ``deploy`` extra."""
    require_deploy_extra("onnx", "onnxscript")
    from projects.deploy.onnx_lowering import OPSET, translations

    table = translations(lowering)

    # optimize=False: the exporter's graph optimiser (onnxscript 0.7) produced an invalid graph
    # for these models; onnxruntime optimises the graph itself when it loads it. The math attention
    # backend: with the fused CPU one, the conversion's re-traces disagreed on the attention output's
    # strides, and a reshape after it became a view that failed (SMCA).
    with sdpa_kernel(SDPBackend.MATH):
        onnx_program = torch.onnx.export(program, (images, image_sizes), dynamo=True, opset_version=OPSET,
                                         custom_translation_table=table, output_names=list(OUTPUT_NAMES),
                                         optimize=False, verbose=False)
    for key, value in metadata.items():
        onnx_program.model.metadata_props[key] = json.dumps(value)
    onnx_program.save(path)


def export_aoti(program: ExportedProgram, path: str, metadata: Dict[str, object]) -> str:
    """Compile ``program`` ahead of time with AOTInductor into a package at ``path`` (``.pt2``): a
    shared library of the whole inference, no Python model code. The registered deformable attention
    op stays a call through the dispatcher, so the process that loads the package must have loaded
    ``ops._C`` (``import ops``; from C++, load ops/_C*.so before the package). ``metadata`` is kept
    in the package as JSON strings (``load_aoti(path)[1]``). Needs a C++ compiler at export time."""
    from torch._inductor import aoti_compile_and_package

    stored = {AOTI_METADATA_PREFIX + key: json.dumps(value) for key, value in metadata.items()}
    configs = {"aot_inductor.metadata": stored}
    with torch.no_grad():
        return aoti_compile_and_package(program, package_path=path, inductor_configs=configs)


def load_aoti(path: str):
    """(callable (images, image_sizes) -> (boxes, scores, labels), metadata) of an AOTInductor package
    written by ``export_aoti``. Imports ``ops`` first, which registers the op the package calls."""
    import ops  # noqa: F401  (loads ops._C: the package calls torch.ops.detr_family.ms_deform_attn)
    from torch._inductor import aoti_load_package

    compiled = aoti_load_package(path)
    stored = compiled.get_metadata()
    return compiled, {key[len(AOTI_METADATA_PREFIX):]: json.loads(value) for key, value in stored.items()
                      if key.startswith(AOTI_METADATA_PREFIX)}


def runner_metadata(cfg, class_names=None) -> Dict[str, object]:
    """What a runner needs to preprocess images like the test loader and to name the labels."""
    return {"input_format": cfg.INPUT.FORMAT, "min_size_test": cfg.INPUT.MIN_SIZE_TEST,
            "max_size_test": cfg.INPUT.MAX_SIZE_TEST, "meta_architecture": cfg.MODEL.META_ARCHITECTURE,
            "class_names": list(class_names or [])}
