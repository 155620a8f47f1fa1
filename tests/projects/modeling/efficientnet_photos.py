"""Real photographs shipped by scikit-image and the ImageNet classes a sensible classifier gives them."""
import numpy as np
import skimage.data
import torch
from torch.nn import functional as F
from torchvision.models import EfficientNet_B0_Weights

from projects.modeling.efficientnet.classifier import preprocess

# photo (skimage.data function) -> ImageNet class names that describe it (torchvision's category names)
SENSIBLE = {
    "chelsea": ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"),  # domestic cats
    "coffee": ("espresso", "cup", "coffee mug"),
    "rocket": ("missile", "projectile", "space shuttle"),
    "camera": ("tripod", "reflex camera"),  # the cameraman behind his camera on a tripod (grey)
    "clock": ("wall clock", "analog clock"),  # grey
}
# name -> (mean, std, channel order) on the 0..255 scale; the first is the weights' own (TF lite training)
PREPROCESSING = {
    "trained: RGB, mean 127, std 128": ((127.0,) * 3, (128.0,) * 3, (0, 1, 2)),
    "ImageNet mean/std (B-series ports)": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375), (0, 1, 2)),
    "BGR order, mean 127, std 128": ((127.0,) * 3, (128.0,) * 3, (2, 1, 0)),
    "0..1 scale, no centring": ((0.0,) * 3, (255.0,) * 3, (0, 1, 2)),
}


def imagenet_categories():
    """The 1000 ImageNet-1k class names from torchvision's weight metadata (no download)."""
    return EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"]


def photo(name: str) -> np.ndarray:
    return getattr(skimage.data, name)()


@torch.no_grad()
def probabilities(model, variant, name, mean, std, order=(0, 1, 2)) -> torch.Tensor:
    """Softmax [1000] of ``model`` on photo ``name`` preprocessed with (mean, std, channel order)."""
    image = photo(name)
    if image.ndim == 3:
        image = image[..., :3][..., list(order)]
    return model(preprocess(image, variant, mean, std)[None]).softmax(-1)[0]


def sensible_mass(probs: torch.Tensor, name: str, categories) -> float:
    """Probability the classifier puts on the photo's sensible classes."""
    return float(sum(probs[categories.index(c)] for c in SENSIBLE[name]))


def mean_log_sensible(model, variant, mean, std, order, categories) -> float:
    """Mean over the photos of log(probability on the sensible classes): higher is better."""
    return float(np.mean([np.log(sensible_mass(probabilities(model, variant, n, mean, std, order), n, categories))
                          for n in SENSIBLE]))


def top5_is_sensible(model, variant, categories, preprocessing=None) -> dict:
    """photo -> whether its top-5 ImageNet classes include one of its sensible classes."""
    mean, std, order = preprocessing or next(iter(PREPROCESSING.values()))
    result = {}
    for name in SENSIBLE:
        top5 = probabilities(model, variant, name, mean, std, order).topk(5).indices.tolist()
        result[name] = any(categories[i] in SENSIBLE[name] for i in top5)
    return result


@torch.no_grad()
def stem_variance_mismatch(model, variant, mean, std, order=(0, 1, 2)) -> float:
    """Median over the stem's channels of |log(variance of its conv output on colour photos / the stored
    BatchNorm running variance)|: near 0 when the photos are scaled as the training images were."""
    stem = model.trunk.stem
    images = torch.stack([preprocess(photo(n)[..., list(order)], variant, mean, std)
                          for n in ("chelsea", "coffee", "rocket", "astronaut")])
    out = F.conv2d(F.pad(images, [0, 1, 0, 1]), stem.weight, None, 2)  # the stem's SAME padding at an even size
    return float((out.var(dim=(0, 2, 3)) / stem.norm.running_var).log().abs().median())
