"""Work done once per LFW-a image and cached (LBP features, landmarks): which images, the tag that names their
caches, and the chunked map over them in processes with one progress bar."""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from .check import list_images
from .paths import images_dir, require_data_dir

T = TypeVar("T")


def every_image(data: str | os.PathLike | None = None) -> tuple[Path, list[str], str]:
    """(images folder, relpaths of every image, tag): the tag changes with the list of images or their folder, so a
    cache named by it is never read for other images."""
    root = images_dir(require_data_dir(data))
    paths = list_images(require_data_dir(data))
    return root, paths, hashlib.sha256(("\n".join(paths) + str(root.resolve())).encode()).hexdigest()[:8]


def map_chunks(fn: Callable[[Any], T], jobs: Sequence[Any], sizes: Sequence[int], workers: int, desc: str,
               progress: bool = True) -> list[T]:
    """`fn` of each job, in order, in `workers` processes (1: this one); the bar counts `sizes[i]` images per job."""
    from tqdm.auto import tqdm
    out: list[T] = []
    with tqdm(total=sum(sizes), desc=desc, unit="img", disable=not progress) as bar:
        if workers > 1:
            with ProcessPoolExecutor(workers) as ex:
                for part, n in zip(ex.map(fn, jobs), sizes):
                    out.append(part)
                    bar.update(n)
        else:
            for job, n in zip(jobs, sizes):
                out.append(fn(job))
                bar.update(n)
    return out
