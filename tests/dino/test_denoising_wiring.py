"""DINO draws its contrastive denoising queries once per training batch, in ``prepare_targets`` (outside the
``predict`` that MODEL.COMPILE compiles: the official draw order has a data-dependent number of draws),
and ``predict`` uses exactly those."""
import torch

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

from projects.modeling.denoising.queries import DN_QUERIES_KEY
from tests.harness.e2e_utils import tiny_cfg


def batch():
    image = torch.zeros(3, 64, 80, dtype=torch.uint8)
    instances = Instances((64, 80))
    instances.gt_boxes = Boxes(torch.tensor([[4.0, 6.0, 40.0, 30.0], [20.0, 10.0, 70.0, 60.0]]))
    instances.gt_classes = torch.tensor([1, 3])
    return [{"image": image, "instances": instances}]


def test_queries_are_drawn_in_prepare_targets_and_used_by_predict():
    model = build_model(tiny_cfg("configs/quickstart/dino_embedded.yaml")).train()
    torch.manual_seed(5)
    targets = model.prepare_targets(batch())
    queries = targets[0][DN_QUERIES_KEY]
    plain = [{key: value for key, value in target.items() if key != DN_QUERIES_KEY} for target in targets]
    torch.manual_seed(5)
    again = model.denoising_queries(plain)  # the same draws from the same seed
    assert torch.equal(again.labels, queries.labels) and torch.equal(again.boxes, queries.boxes)
    assert model.batch_denoising_queries(targets) is queries  # predict does not draw again
    images, pixel_mask = model.preprocess_image(batch())
    outputs = model.predict(model.backbone(images.tensor, pixel_mask), torch.as_tensor(images.image_sizes),
                            pixel_mask, targets)
    assert outputs["dn_queries"] is queries
    assert outputs["dn_outputs"]["pred_logits"].shape[1] == queries.pad_size
    model.eval()
    assert model.denoising_queries(None) is None
