"""What one uploaded picture costs the server: seconds and peak memory above the process's baseline.

The picture is the issue's worst case: a 5000x5000 RGBA PNG of about 110 KB (one thick stroke on
transparency), the largest the 25-megapixel limit lets in. Each way is measured in a fresh process, from
the file's bytes to the page's two readings (MNIST-style and naive):
  full_size  decoded at full size, as before (WORKING_SIDE raised past the picture)
  shrunk     decoded the way the page does now: shrunk to WORKING_SIDE while it is decoded
  turned     the same pixels with a camera's EXIF orientation 6 ('turn 90 degrees clockwise'), decoded as
             `shrunk` is: turned after the shrink, so it should cost what `shrunk` does
Peak memory is the rise of the process's maximum resident set (ru_maxrss), so Pillow's own buffers count.

Usage: python bench/upload_cost.py
Last stdout line: {"file_kb": ..., "full_size": {"seconds": ..., "peak_mb": ...}, "shrunk": {...}, "turned": {...},
                   "ratio": ..., "turned_ratio": ...}
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MEASURE = """
import json, resource, sys, time
from dlcore import preprocess
data = open(sys.argv[1], "rb").read()
if sys.argv[2] == "full_size":
    preprocess.WORKING_SIDE = 10**6
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
picture = preprocess.decode(data, "upload.png")
preprocess.mnist_style(picture, 0.1307, 0.3081)
preprocess.naive(picture, 0.1307, 0.3081)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline
print(json.dumps({"seconds": round(seconds, 3), "peak_mb": round(peak / 1024, 1), "shape": list(picture.shape)}))
"""


def worst_case_png(orientation: int = 1) -> bytes:
    """5000x5000 RGBA, transparent but for one stroke of a '7': tiny as a file, 100 MB as pixels; with an EXIF
    orientation other than 1, a camera's note to turn it."""
    from PIL import ExifTags, Image, ImageDraw

    picture = Image.new("RGBA", (5000, 5000), (0, 0, 0, 0))
    ImageDraw.Draw(picture).line([(1500, 1200), (3500, 1200), (2200, 3800)], fill=(255, 255, 255, 255), width=300)
    exif = Image.Exif()
    if orientation != 1:
        exif[ExifTags.Base.Orientation] = orientation
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", exif=exif)
    return buffer.getvalue()


def measure(path: Path, way: str) -> dict:
    result = subprocess.run([sys.executable, "-c", MEASURE, str(path), way], cwd=REPO, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    data = worst_case_png()
    with tempfile.TemporaryDirectory() as folder:
        path, turned = Path(folder) / "upload.png", Path(folder) / "turned.png"
        path.write_bytes(data)
        turned.write_bytes(worst_case_png(orientation=6))
        results = {way: measure(path, way) for way in ("full_size", "shrunk")}
        results["turned"] = measure(turned, "shrunk")
    for way, result in results.items():
        print(f"{way:>9}: {result['seconds']:.2f} s, peak +{result['peak_mb']:.0f} MB, decoded {result['shape']}")
    shrunk_mb = max(results["shrunk"]["peak_mb"], 0.1)
    summary = {"file_kb": round(len(data) / 1024), **results,
               "ratio": round(results["full_size"]["peak_mb"] / shrunk_mb, 1),
               "turned_ratio": round(results["turned"]["peak_mb"] / shrunk_mb, 2)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
