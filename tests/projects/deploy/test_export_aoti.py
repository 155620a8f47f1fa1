"""AOTInductor packages (``export_aoti``) of a tiny model with the deformable attention op: the package,
loaded in a fresh process that can import neither detectron2 nor the project's model code (only torch
and ``ops``, whose ``_C`` the package calls through the dispatcher), matches PyTorch eager on images of
other sizes than the export sample, as a padded pair and alone. One model: an AOTInductor compile takes
minutes on a loaded 2-core machine; the ONNX and torch.export parity of every method is in
test_export_methods.py."""
import subprocess
import sys
import textwrap

import pytest
import torch

from ops import MSDeformAttn, kernel_available
from projects.deploy import ExportableDetector, batch_images, example_batch, export_aoti, export_program, load_aoti
from projects.deploy import runner_metadata
from projects.deploy.fold_batchnorm import fold_frozen_batchnorm

from .test_export_methods import assert_same_detections
from .tiny_methods import ROOT, random_images, tiny_config, tiny_model

pytestmark = [pytest.mark.skipif(not kernel_available("cpu"), reason="needs the compiled op ops._C"), pytest.mark.slow]
METHOD = "deformable_detr_refine_embedded"  # multi-scale deformable attention and box refinement
EXPORT_SIZE = (96, 128)

# The runner of a fresh process: no detectron2, no project code besides ops; inputs and outputs by file.
RUNNER = textwrap.dedent("""
    import sys
    for name in ("detectron2", "projects", "deformable_detr", "conditional_detr", "smca"):
        sys.modules[name] = None
    import torch
    import ops
    from torch._inductor import aoti_load_package
    batches = torch.load(sys.argv[2])
    model = aoti_load_package(sys.argv[1])
    with torch.no_grad():
        torch.save({name: tuple(model(*batch)) for name, batch in batches.items()}, sys.argv[3])
""")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """(package path, the folded eager detector, {name: (images, image_sizes)})."""
    folder = tmp_path_factory.mktemp("aoti")
    model = tiny_model(METHOD)
    assert any(isinstance(module, MSDeformAttn) for module in model.modules())
    fold_frozen_batchnorm(model)
    detector = ExportableDetector(model)
    sample = example_batch(random_images([EXPORT_SIZE], seed=1)[0])
    path = export_aoti(export_program(detector, *sample), str(folder / "model_aoti.pt2"),
                       runner_metadata(tiny_config(METHOD)))
    images = random_images([(120, 88), (72, 140)], seed=3)
    return path, detector, {"pair": batch_images(images), "single": batch_images(images[1:])}


def test_package_matches_eager_and_keeps_the_metadata(package):
    path, detector, batches = package
    compiled, metadata = load_aoti(path)
    assert metadata["meta_architecture"] == tiny_config(METHOD).MODEL.META_ARCHITECTURE
    with torch.no_grad():
        for images, sizes in batches.values():
            assert tuple(images.shape[-2:]) != EXPORT_SIZE
            assert_same_detections(compiled(images, sizes), detector(images, sizes))


def test_package_runs_without_model_code(package, tmp_path):
    path, detector, batches = package
    torch.save(batches, tmp_path / "inputs.pt")
    done = subprocess.run([sys.executable, "-c", RUNNER, path, str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = torch.load(tmp_path / "out.pt")
    with torch.no_grad():
        for name, (images, sizes) in batches.items():
            assert_same_detections(outputs[name], detector(images, sizes))
