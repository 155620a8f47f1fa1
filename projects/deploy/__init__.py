"""Deployment of DETR-family models: a tensor-in/tensor-out core (``ExportableDetector``), its
export to torch.export programs, ONNX files and AOTInductor packages, and the batching of
example inputs.

torch.export needs only torch; ONNX needs the ``deploy`` extra (``pip install -e .[deploy]``:
onnx, onnxscript, onnxruntime), imported only when an ONNX function is called.
"""
from projects.deploy.detector import OUTPUT_NAMES, ExportableDetector, padding_mask
from projects.deploy.export import (export_aoti, export_onnx, export_program, load_aoti, load_program, runner_metadata,
                                    save_program)
from projects.deploy.inputs import batch_images, example_batch
from projects.deploy.requirements import DEPLOY_EXTRA_HINT, require_deploy_extra

__all__ = ["DEPLOY_EXTRA_HINT", "ExportableDetector", "OUTPUT_NAMES", "batch_images", "example_batch", "export_aoti",
           "export_onnx", "export_program", "load_aoti", "load_program", "padding_mask", "require_deploy_extra",
           "runner_metadata", "save_program"]
