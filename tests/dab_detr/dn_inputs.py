"""The DN-DETR fixtures' stored denoising inputs (dn_detr README, verification (b)) as the
``DenoisingQueries`` our DAB models consume, and a training-mode forward of the fixture batch with them."""
import torch

from projects.modeling.denoising.queries import DenoisingQueries
from tests.harness.fixture_utils import image_batch


def batch_first(tensor, seq_first: bool):
    return tensor.transpose(0, 1) if seq_first else tensor


def stored_dn_queries(dn, seq_first: bool) -> DenoisingQueries:
    """dn: the fixture's "dn" section; ``seq_first``: the single-scale model stored [P + Q, B, ...].

    The first ``pad_size`` rows of ``input_query_label`` / ``input_query_bbox`` are the denoising queries;
    ``mask_dict`` gives each noised copy's image (batch_idx[known_indice]), row (map_known_indice) and
    target (known_indice minus its image's offset), in the official copy-major order."""
    mask_dict = dn["mask_dict"]
    pad = mask_dict["pad_size"]
    known = mask_dict["known_indice"]
    batch_index = mask_dict["batch_idx"][known]
    counts = torch.bincount(mask_dict["batch_idx"])
    offsets = torch.cat((counts.new_zeros(1), counts.cumsum(0)[:-1]))
    return DenoisingQueries(
        content=batch_first(dn["input_query_label"], seq_first)[:, :pad],
        anchors=batch_first(dn["input_query_bbox"], seq_first)[:, :pad],
        attn_mask=dn["attn_mask"], num_groups=dn["scalar"], group_size=pad // dn["scalar"], contrastive=False,
        batch_index=batch_index, query_index=mask_dict["map_known_indice"], target_index=known - offsets[batch_index],
        positive=torch.ones_like(known, dtype=torch.bool), labels=dn["noised_labels"], boxes=dn["noised_boxes"])


def training_forward(model, fixture, queries):
    """One training-mode forward of the fixture batch (no gradients) whose denoising queries are ``queries``
    (the official ``prepare_for_dn`` replaced by the stored inputs) -> the outputs dict."""
    model.train()
    model.build_denoising = lambda targets, num_queries: queries
    try:
        with torch.no_grad():
            images, pixel_mask = model.preprocess_image(image_batch(fixture["inputs"]["image_sizes"].tolist()))
            image_sizes = torch.as_tensor(images.image_sizes)
            levels = model.backbone(images.tensor, pixel_mask)
            return model.predict(levels, image_sizes, pixel_mask, fixture["criterion"]["targets"])
    finally:
        del model.build_denoising
