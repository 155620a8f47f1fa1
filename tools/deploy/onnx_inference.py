#!/usr/bin/env python
"""Run an exported DETR-family ONNX model with onnxruntime: no torch, no detectron2.

    python tools/deploy/onnx_inference.py --model output/export/model.onnx --input a.jpg b.jpg \\
        [--confidence-threshold 0.5] [--output drawn/] [--json detections.json] [--threads 2]

Each image is read (EXIF rotation applied), put in the model's channel order, resized like the
test loader (shortest edge to min_size_test, longest at most max_size_test, bilinear) and run
alone; boxes are scaled back to the original image and clipped, as Detectron2's postprocessing
does. The settings and class names come from the file's metadata (written by export_model.py).
Prints one line per detection; --output draws them, --json writes them all.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnxruntime
from PIL import Image, ImageDraw, ImageOps


def read_metadata(session):
    """The export's settings (input_format, min_size_test, max_size_test, class_names)."""
    properties = session.get_modelmeta().custom_metadata_map
    return {key: json.loads(value) for key, value in properties.items()}


def resized_size(height, width, short_edge, max_size):
    """Detectron2's ResizeShortestEdge output (h, w): scale the short side to ``short_edge`` unless
    the long side would exceed ``max_size``; round half up."""
    scale = short_edge / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def preprocess(path, metadata):
    """-> (images [1, 3, h, w] float32, image_sizes [1, 2] int64, original (H, W))."""
    try:
        image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    except OSError as error:
        raise SystemExit(f"error: cannot read image {path}: {error}")
    original = (image.height, image.width)
    height, width = resized_size(*original, metadata["min_size_test"], metadata["max_size_test"])
    pixels = np.asarray(image.resize((width, height), Image.BILINEAR), dtype=np.float32)
    if metadata["input_format"] == "BGR":
        pixels = pixels[:, :, ::-1]
    images = np.ascontiguousarray(pixels.transpose(2, 0, 1))[None]
    return images, np.array([[height, width]], dtype=np.int64), original


def postprocess(boxes, scores, labels, resized, original, threshold):
    """Boxes of one image in the original frame, clipped; detections above ``threshold`` with a
    non-empty box, best first."""
    scale_y, scale_x = original[0] / resized[0], original[1] / resized[1]
    boxes = boxes * np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, original[1])
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, original[0])
    keep = (scores >= threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    order = np.argsort(-scores[keep], kind="stable")
    return boxes[keep][order], scores[keep][order], labels[keep][order]


def draw(path, output, detections, names):
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    canvas = ImageDraw.Draw(image)
    for item in detections:
        canvas.rectangle(item["box"], outline=(255, 64, 0), width=2)
        canvas.text((item["box"][0] + 2, item["box"][1] + 2), f"{item['class']} {item['score']:.2f}", fill=(255, 64, 0))
    os.makedirs(output, exist_ok=True)
    image.save(os.path.join(output, os.path.basename(path)))


def class_name(label, names):
    return names[label] if 0 <= label < len(names) else str(label)


def run(session, metadata, path, threshold):
    """Detections of one image: [{"class", "label", "score", "box": [x0, y0, x1, y1]}]."""
    images, sizes, original = preprocess(path, metadata)
    boxes, scores, labels = session.run(None, {"images": images, "image_sizes": sizes})
    kept = postprocess(boxes[0], scores[0], labels[0], tuple(sizes[0]), original, threshold)
    names = metadata.get("class_names", [])
    return [{"class": class_name(int(label), names), "label": int(label), "score": float(score),
             "box": [float(v) for v in box]} for box, score, label in zip(*kept)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model.onnx written by tools/deploy/export_model.py")
    parser.add_argument("--input", required=True, nargs="+", help="image files")
    parser.add_argument("--confidence-threshold", type=float, default=0.5)
    parser.add_argument("--output", help="folder for drawings of the detections")
    parser.add_argument("--json", help="file for all detections, keyed by image path")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.model):
        raise SystemExit(f"error: model file not found: {args.model}")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    metadata = read_metadata(session)
    results = {}
    for path in args.input:
        results[path] = run(session, metadata, path, args.confidence_threshold)
        for item in results[path]:
            print(f"{path}: {item['class']} {item['score']:.3f} box {[round(v, 1) for v in item['box']]}")
        if args.output:
            draw(path, args.output, results[path], metadata.get("class_names", []))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
