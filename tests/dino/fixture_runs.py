"""Runs of our DINO on the official fixture (tests/fixtures/dino/dino_4scale.tiny.pt), shared by the fixture tests.

``train_run`` is the official training forward: the stored contrastive-denoising inputs fed in place of
the builder (fixture README, verification (b)), the criterion on the fixture's targets, one backward of
the weighted total. ``eval_run`` is the eval forward + inference (tests.harness.fixture_utils). Both record
what the README stores per decoder layer.
"""
from functools import lru_cache

import torch

from tests.dino.stored_denoising import stored_queries
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import cached_fixture, image_batch, run_fixture_batch

METHOD, VARIANT = "dino", "dino_4scale"


def fixture():
    return cached_fixture(METHOD, VARIANT)


def fixture_model(impl, opts=()):
    return build_fixture_model(METHOD, VARIANT, ["MODEL.DINO.ATTENTION_IMPL", impl, *opts])


def record_decoder(model):
    """Forward hooks keeping, per decoder layer, what the README stores: the layer output (before the
    final LayerNorm), its query_pos, the head-averaged self-attention weights and the cross-attention's
    sampling locations and weights. Returns (records {name: [per layer]}, hook handles)."""
    records = {name: [] for name in ("output", "query_pos", "self_attn", "locations", "weights", "reference_input")}
    handles = []
    decoder = model.transformer.decoder
    for layer in decoder.layers:
        handles.append(layer.register_forward_hook(
            lambda module, args, output: records["output"].append(output.detach())))
        handles.append(layer.self_attn.register_forward_pre_hook(_self_attention(records), with_kwargs=True))
        handles.append(layer.cross_attn.register_forward_pre_hook(_sampling(records)))
    handles.append(decoder.ref_point_head.register_forward_hook(
        lambda module, args, output: records["query_pos"].append(output.detach())))
    return records, handles


def _self_attention(records):
    def hook(module, args, kwargs):
        with torch.no_grad():
            _, weights = module.forward(*args, attn_mask=kwargs.get("attn_mask"), need_weights=True,
                                        average_attn_weights=True)
        records["self_attn"].append(weights)
    return hook


def _sampling(records):
    def hook(module, args):
        query, reference, _, shapes = args[:4]
        with torch.no_grad():
            locations, weights = module.sampling_locations_and_weights(query, reference, shapes)
        records["locations"].append(locations)
        records["weights"].append(weights)
        records["reference_input"].append(reference.detach())
    return hook


@lru_cache(maxsize=None)
def train_run(impl):
    """The training forward, losses and gradients: {"model", "outputs", "transformer", "decoder" (records),
    "losses", "indices" (matcher, by suffix), "total", "grads" {name: gradient}, "queries"}."""
    data = fixture()
    model = fixture_model(impl).train()
    model.denoising_queries = lambda targets: stored_queries(data["dn"], model.label_enc)
    captured = {}
    records, handles = record_decoder(model)
    handles.append(model.transformer.register_forward_hook(lambda m, a, output: captured.setdefault("t", output)))
    try:
        images, pixel_mask = model.preprocess_image(image_batch(data["inputs"]["image_sizes"].tolist()))
        levels = model.backbone(images.tensor, pixel_mask)
        targets = data["criterion"]["targets"]
        outputs = model.predict(levels, torch.as_tensor(images.image_sizes), pixel_mask, targets)
    finally:
        for handle in handles:
            handle.remove()
    with torch.no_grad():
        indices = model.criterion.match(outputs, targets)
    losses = model.criterion(outputs, targets)
    total = model.criterion.total_loss(losses)
    total.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return {"model": model, "outputs": outputs, "transformer": captured["t"], "decoder": records, "losses": losses,
            "indices": indices, "total": total.detach(), "grads": grads}


@lru_cache(maxsize=None)
def eval_run(impl):
    """The eval forward and inference (run_fixture_batch) plus the decoder records and the projected levels."""
    model = fixture_model(impl)
    records, handles = record_decoder(model)
    try:
        result = run_fixture_batch(model, fixture(), watch={"projected": model.input_proj,
                                                            "enc_output_norm": model.transformer.enc_output_norm})
    finally:
        for handle in handles:
            handle.remove()
    return {"model": model, **result, "decoder": records}
