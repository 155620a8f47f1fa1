"""tools/demo.py: every method's config draws its detections on images and on a video; bad inputs
end with one line."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.tools.tool_utils import (
    DETR_CONFIG, QUICKSTART, ROOT, TINY_OPTS, changed_pixels, load_tool, read_rgb, tiny_opts,
)

demo = load_tool("demo")
METHOD_CONFIGS = sorted(QUICKSTART.glob("*.yaml"))


def run_demo(inputs, output, *extra, threshold="0", opts=()):
    return demo.main(["--config-file", DETR_CONFIG, "--input", *inputs, "--output", str(output),
                      "--confidence-threshold", threshold, *extra, *TINY_OPTS, *opts])


def test_glob_input_batched_every_image_drawn(val_pngs, detr_checkpoint, tmp_path):
    pattern = str(Path(val_pngs[0]).parent / "*.png")
    written = run_demo([pattern], tmp_path / "out", "--batch-size", "2", opts=["MODEL.WEIGHTS", detr_checkpoint])
    assert [Path(p).name for p in written] == [Path(p).name for p in val_pngs]
    for drawn, source in zip(written, val_pngs):
        assert changed_pixels(read_rgb(drawn), read_rgb(source)) > 100


def test_folder_input_nothing_drawn_above_every_score(val_pngs, detr_checkpoint, tmp_path):
    """The control of the test above: with no detection kept, the output is the input pixel for pixel."""
    written = run_demo([str(Path(val_pngs[0]).parent)], tmp_path / "out", threshold="1.0",
                       opts=["MODEL.WEIGHTS", detr_checkpoint])
    assert len(written) == len(val_pngs)
    for drawn, source in zip(written, val_pngs):
        assert changed_pixels(read_rgb(drawn), read_rgb(source)) == 0


@pytest.mark.parametrize("config", METHOD_CONFIGS, ids=[c.stem for c in METHOD_CONFIGS])
def test_every_method_draws_into_an_output_file(config, val_pngs, tmp_path):
    output = tmp_path / "drawn.png"
    written = demo.main(["--config-file", str(config), "--input", val_pngs[0], "--output", str(output),
                         "--confidence-threshold", "0", *tiny_opts(config)])
    assert written == [str(output)]
    assert changed_pixels(read_rgb(output), read_rgb(val_pngs[0])) > 100


def write_video(path, image, num_frames):
    """A short mp4v video of ``image`` (RGB) shifted by one pixel per frame."""
    height, width = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (width, height))
    for index in range(num_frames):
        writer.write(np.ascontiguousarray(np.roll(image, index, axis=1)[:, :, ::-1]))
    writer.release()
    return str(path)


def read_video(path):
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame.astype(np.int16))


def test_video_is_written_with_every_frame_annotated(val_pngs, detr_checkpoint, tmp_path):
    video = write_video(tmp_path / "clip.mp4", read_rgb(val_pngs[0])[:128, :160], num_frames=4)
    common = ["--config-file", DETR_CONFIG, "--video-input", video, "--batch-size", "3"]
    opts = [*TINY_OPTS, "MODEL.WEIGHTS", detr_checkpoint]
    drawn = demo.main([*common, "--output", str(tmp_path / "out"), "--confidence-threshold", "0", *opts])
    plain = demo.main([*common, "--output", str(tmp_path / "plain.mp4"), "--confidence-threshold", "1", *opts])
    assert drawn == [str(tmp_path / "out" / "clip.mp4")]
    drawn_frames, plain_frames = read_video(drawn[0]), read_video(plain[0])
    assert len(drawn_frames) == len(plain_frames) == 4
    for with_boxes, without in zip(drawn_frames, plain_frames):
        # both went through the same encoder: what differs by more than its noise is the drawing
        assert (np.abs(with_boxes - without).max(axis=-1) > 40).sum() > 100


def system_exit_message(argv):
    with pytest.raises(SystemExit) as raised:
        demo.main(argv)
    message = str(raised.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def test_bad_inputs_end_with_one_line(val_pngs, detr_checkpoint, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    base = ["--config-file", DETR_CONFIG, "--output", str(tmp_path / "out"), *TINY_OPTS]
    cases = {
        "holds no image": ["--input", str(tmp_path / "empty")],
        "no such image file": ["--input", str(tmp_path / "missing.png")],
        "cannot read image": ["--input", str(tmp_path / "broken.jpg")],
        "cannot read video": ["--video-input", str(tmp_path / "broken.mp4")],
        "no such video file": ["--video-input", str(tmp_path / "missing.mp4")],
        "exactly one of --input and --video-input": [],
        "--confidence-threshold must be in [0, 1]": ["--input", val_pngs[0], "--confidence-threshold", "2"],
    }
    for expected, argv in cases.items():
        assert expected in system_exit_message([*argv, *base]), expected
    missing = system_exit_message(["--input", val_pngs[0], *base, "MODEL.WEIGHTS", str(tmp_path / "none.pth")])
    assert "cannot read checkpoint" in missing
    several = system_exit_message(["--config-file", DETR_CONFIG, "--input", *val_pngs, "--output",
                                   str(tmp_path / "one.png"), *TINY_OPTS])
    assert "give a folder" in several
    missing_config = system_exit_message(["--config-file", str(tmp_path / "none.yaml"), "--input", val_pngs[0],
                                          "--output", str(tmp_path / "out")])
    assert "config file not found" in missing_config


def test_a_checkpoint_of_another_method_does_not_fit(val_pngs, detr_checkpoint, tmp_path):
    message = system_exit_message(["--config-file", str(QUICKSTART / "deformable_detr_embedded.yaml"),
                                   "--input", val_pngs[0], "--output", str(tmp_path), *TINY_OPTS,
                                   "MODEL.WEIGHTS", detr_checkpoint])
    assert "method found: DETR" in message and "does not fit the DeformableDETR model" in message


def test_command_line_error_has_no_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    done = subprocess.run([sys.executable, str(ROOT / "tools/demo.py"), "--config-file", DETR_CONFIG, "--input",
                           str(tmp_path / "empty"), "--output", str(tmp_path / "out"), *TINY_OPTS],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: folder {tmp_path / 'empty'} holds no image")
