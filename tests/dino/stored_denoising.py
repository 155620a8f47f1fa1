"""The DINO fixture's stored contrastive-denoising inputs as the ``DenoisingQueries`` our model consumes.

The fixture README ("dn"): feed ``label_enc(input_query_label_ids)`` (zero rows at -1), the stored
``input_query_bbox`` (logits) and ``attn_mask``; group g holds rows [2 * sp * g, 2 * sp * (g + 1)), the
first sp rows positive copies, the next sp negative copies, box i of an image at row i of its copy.
"""
import torch

from projects.modeling.denoising.queries import DenoisingQueries


def stored_queries(dn, label_embedding) -> DenoisingQueries:
    """dn: the fixture's "dn" section; label_embedding: the model's ``label_enc`` (gradients reach it
    exactly as in the official run) -> DenoisingQueries with the stored rows, anchors and mask."""
    ids = dn["input_query_label_ids"]
    num_groups = dn["dn_meta"]["num_dn_group"]
    group_size = dn["dn_meta"]["pad_size"] // num_groups
    single_pad = group_size // 2
    known = ids >= 0
    content = label_embedding(ids.clamp(min=0)) * known[..., None]
    # rows in the official order of the draws: copy-major, then image, then box
    rows = sorted((int(r) // single_pad, int(b), int(r)) for b, r in known.nonzero().tolist())
    copy = torch.tensor([c for c, _, _ in rows], dtype=torch.int64)
    batch_index = torch.tensor([b for _, b, _ in rows], dtype=torch.int64)
    query_index = torch.tensor([r for _, _, r in rows], dtype=torch.int64)
    return DenoisingQueries(
        content=content, anchors=dn["input_query_bbox"], attn_mask=dn["attn_mask"], num_groups=num_groups,
        group_size=group_size, contrastive=True, batch_index=batch_index, query_index=query_index,
        target_index=query_index % single_pad, positive=copy % 2 == 0, labels=ids[batch_index, query_index],
        boxes=dn["input_query_bbox_sigmoid"][batch_index, query_index])
