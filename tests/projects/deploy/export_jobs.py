"""One method's export, run in a worker process by test_export_methods.py: torch.export and ONNX
files of its tiny model with its frozen batch norms folded (as tools/deploy/export_model.py exports
by default), the PyTorch outputs the test compares them with, and the unfolded model's outputs."""
import traceback
from pathlib import Path

import numpy as np
import torch

from detectron2.data import transforms as T
from detectron2.data.detection_utils import read_image
from projects.data import build_detr_augmentation
from projects.deploy import (ExportableDetector, batch_images, example_batch, export_onnx, export_program,
                             load_program, runner_metadata, save_program)
from projects.deploy.fold_batchnorm import fold_frozen_batchnorm

from .tiny_methods import embedded_val_images, random_images, tiny_config, tiny_model

EXPORT_SIZE = (96, 128)  # the export sample; the compared images are resized embedded images (other sizes)


def test_inputs(cfg):
    """Two embedded validation images resized as the test loader does: [3, h, w] float each."""
    augmentation = T.AugmentationList(build_detr_augmentation(cfg, is_train=False))
    images = []
    for path in embedded_val_images(2):
        aug_input = T.AugInput(read_image(path, format=cfg.INPUT.FORMAT))
        augmentation(aug_input)
        images.append(torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1))).float())
    return images


def _run(method, output_dir):
    torch.set_num_threads(1)
    cfg = tiny_config(method)
    model = tiny_model(method)
    detector = ExportableDetector(model)
    images = test_inputs(cfg)
    batches = {"pair": batch_images(images), "single": batch_images(images[1:])}
    with torch.no_grad():
        unfolded = {name: detector(*batch) for name, batch in batches.items()}
    fold_frozen_batchnorm(model)
    sample = example_batch(random_images([EXPORT_SIZE], seed=1)[0])
    program = export_program(detector, *sample)
    files = {"pt2": str(Path(output_dir) / f"{method}.pt2"), "onnx": str(Path(output_dir) / f"{method}.onnx")}
    save_program(program, files["pt2"], runner_metadata(cfg))
    export_onnx(program, *sample, files["onnx"], runner_metadata(cfg))
    loaded, metadata = load_program(files["pt2"])
    results = {"files": files, "metadata": metadata, "batches": batches, "eager": {}, "program": {}, "loaded": {},
               "unfolded": unfolded,
               "sample_size": tuple(sample[0].shape[-2:]),
               "op_nodes": sum(node.target == torch.ops.detr_family.ms_deform_attn.default
                               for node in program.graph.nodes)}
    with torch.no_grad():
        for name, batch in batches.items():
            results["eager"][name] = detector(*batch)
            results["program"][name] = program.module()(*batch)
            results["loaded"][name] = loaded.module()(*batch)
        results["instances"] = model([{"image": images[1], "height": images[1].shape[1],
                                       "width": images[1].shape[2]}])[0]["instances"]
    return results


def export_and_run(method, output_dir):
    """Results of ``method`` (see ``_run``), or {"error": traceback} so that one method's failure
    fails only its own tests."""
    try:
        results = _run(method, output_dir)
    except Exception:  # noqa: BLE001 - reported by the test of this method
        return {"error": traceback.format_exc()}
    path = Path(output_dir) / f"{method}.results.pt"
    torch.save(results, path)
    return {"results": str(path)}
