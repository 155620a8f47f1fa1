"""Video in and out with OpenCV (the headless build): frames in batches, an annotated file written."""
import os
from typing import Iterator, List

import cv2
import numpy as np

from projects.visualization.inputs import ToolInputError


class VideoReader:
    """Frames of a video file as BGR uint8 [H, W, 3] arrays, read in batches."""

    def __init__(self, path: str):
        if not os.path.isfile(path):
            raise ToolInputError(f"no such video file: {path}")
        self.path = path
        # keep ffmpeg's own messages ("moov atom not found") from preceding our one-line error;
        # OpenCV reads this when a capture opens, so a user's own setting wins
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        self.capture = cv2.VideoCapture(path)
        if not self.capture.isOpened():
            raise ToolInputError(f"cannot read video {path}: OpenCV cannot open it")
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.num_frames = max(int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)

    def batches(self, batch_size: int) -> Iterator[List[np.ndarray]]:
        """Lists of up to ``batch_size`` consecutive frames; ToolInputError if there is no frame at all."""
        batch: List[np.ndarray] = []
        read_any = False
        while True:
            ok, frame = self.capture.read()
            if not ok:
                break
            read_any = True
            batch.append(frame)
            if len(batch) == batch_size:
                yield batch
                batch = []
        self.capture.release()
        if batch:
            yield batch
        if not read_any:
            raise ToolInputError(f"cannot read video {self.path}: no frame could be decoded")


class VideoWriter:
    """An .mp4 (MPEG-4 part 2, 'mp4v') file written frame by frame from RGB arrays; opened lazily on
    the first frame so that a video without frames leaves no file behind."""

    def __init__(self, path: str, fps: float):
        self.path = path
        self.fps = fps
        self.writer = None

    def write(self, rgb: np.ndarray) -> None:
        if self.writer is None:
            height, width = rgb.shape[:2]
            self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
            if not self.writer.isOpened():
                raise ToolInputError(f"cannot write video {self.path} (OpenCV has no mp4v encoder for it)")
        self.writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
