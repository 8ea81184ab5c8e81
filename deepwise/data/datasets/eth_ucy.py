"""ETH/UCY pedestrian trajectories, read from their plain-text files, and the Social GAN protocol.

The format (ETH: Pellegrini et al., ICCV 2009; UCY: Lerner et al., 2007; as distributed with
Social GAN, Gupta et al., CVPR 2018): one row per pedestrian per annotated frame,
``frame_id  pedestrian_id  x  y`` separated by tabs or spaces, x/y in metres (world coordinates).
Frame ids step by 10 (0.4 s, 2.5 fps); frames where nobody is annotated are simply absent.

The protocol (Social GAN's loader):

1. a *track* is a pedestrian's run of consecutive frames (one frame step apart). A pedestrian
   whose frames have a gap gives two tracks - the missing positions are never interpolated;
2. a *window* is ``obs_len + pred_len`` (8 + 12 = 20) consecutive frames starting at any frame
   (step 1); it holds every track present in all of its frames;
3. a window is kept only when it holds more than one such pedestrian (``min_peds=2``);
4. leave one scene out: train on the other scenes' ``train/`` files, validate on their ``val/``
   files, test on the held-out scene's ``all_data/`` file (:func:`load_fold`).

Where the folder is looked for: the ``root`` passed in (the folder holding ``all_data/``,
``train/`` and ``val/``), else ``$DEEPWISE_DATA/eth-ucy`` or ``$DEEPWISE_DATA`` (several
directories: separate with ``:``).

>>> fold = load_fold("zara1", root="data/eth-ucy")     # doctest: +SKIP
>>> obs, future = fold["test"][np.arange(4)]           # (4, 8, 2), (4, 12, 2) metres
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import Dataset
from .mnist import DatasetNotFoundError

__all__ = ["TrajectoryFormatError", "TrajectoryWindows", "Track", "Windows", "read_trajectories",
           "frame_step", "split_tracks", "make_windows", "load_scene", "load_fold", "find_root",
           "scene_name", "SCENES", "TRAIN_ONLY"]

# the four test scenes of the protocol here (HOTEL is not in the data) -> their files
SCENES: dict[str, tuple[str, ...]] = {"eth": ("biwi_eth",), "univ": ("students001", "students003"),
                                      "zara1": ("crowds_zara01",), "zara2": ("crowds_zara02",)}
# scenes that only ever train
TRAIN_ONLY: tuple[str, ...] = ("crowds_zara03", "uni_examples")
_ALIASES = {"biwi_eth": "eth", "zara01": "zara1", "crowds_zara01": "zara1", "zara02": "zara2",
            "crowds_zara02": "zara2", "students001": "univ", "students003": "univ",
            "students": "univ"}


class TrajectoryFormatError(ValueError):
    """A trajectory file that is not in the ETH/UCY format (the message names file and line)."""


def scene_name(name: str) -> str:
    """The protocol's name of a test scene (``eth``, ``univ``, ``zara1``, ``zara2``) from any of
    its usual spellings (``zara01``, ``crowds_zara01``, ``ZARA1``, ``biwi_eth``, ...)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in SCENES:
        hint = " (the HOTEL scene is not in this data)" if "hotel" in key else ""
        raise ValueError(f"eth_ucy: unknown test scene {name!r}{hint}; known: "
                         f"{sorted(SCENES)} (or zara01, zara02, biwi_eth, students001)")
    return key


def read_trajectories(path: str | os.PathLike) -> np.ndarray:
    """The rows of one ETH/UCY file as a float64 array ``(N, 4)``: frame, pedestrian, x, y,
    sorted by frame then pedestrian.

    Raises :class:`TrajectoryFormatError` naming the file and line for a row that is not four
    numbers, a non-integer frame or pedestrian id, a non-finite coordinate, or a pedestrian
    annotated twice in one frame; FileNotFoundError when the file is absent."""
    path = Path(path)
    try:  # the fast path (NumPy's C parser); any problem is re-read line by line to name it
        with open(path, encoding="utf-8") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty file: reported below, by the slow path
            data = np.loadtxt(f, dtype=np.float64, ndmin=2)
        ok = (data.shape[1] == 4 and data.shape[0] > 0 and bool(np.isfinite(data).all())
              and bool((data[:, :2] == np.round(data[:, :2])).all()))
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        data, lines = _read_checked(path)
    else:
        lines = None
    order = np.lexsort((data[:, 1], data[:, 0]))
    data = data[order]
    same = np.flatnonzero((np.diff(data[:, 0]) == 0) & (np.diff(data[:, 1]) == 0))
    if same.size:
        if lines is None:
            data, lines = _read_checked(path)
            order = np.lexsort((data[:, 1], data[:, 0]))
            data = data[order]
        line_of = np.asarray(lines)[order]
        i = same[0]
        raise TrajectoryFormatError(
            f"{path}, lines {min(line_of[i], line_of[i + 1])} and "
            f"{max(line_of[i], line_of[i + 1])}: pedestrian {int(data[i, 1])} is annotated twice "
            f"in frame {int(data[i, 0])}")
    return data


def _read_checked(path: Path) -> tuple[np.ndarray, list[int]]:
    """Parse line by line, raising :class:`TrajectoryFormatError` at the first bad line; the
    rows (file order) and their line numbers."""
    rows: list[tuple[float, ...]] = []
    lines: list[int] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()  # tabs or runs of spaces
            if not fields:
                continue
            where = f"{path}, line {number}"
            if len(fields) != 4:
                raise TrajectoryFormatError(
                    f"{where}: expected 4 fields (frame, pedestrian, x, y) separated by tabs or "
                    f"spaces, got {len(fields)}: {line.strip()[:80]!r}")
            try:
                values = tuple(float(v) for v in fields)
            except ValueError:
                raise TrajectoryFormatError(
                    f"{where}: expected numbers (frame, pedestrian, x, y), got "
                    f"{line.strip()[:80]!r}") from None
            if not all(np.isfinite(values)):
                raise TrajectoryFormatError(f"{where}: non-finite value in {line.strip()!r}")
            if values[0] != int(values[0]) or values[1] != int(values[1]):
                raise TrajectoryFormatError(
                    f"{where}: frame and pedestrian ids must be whole numbers, got "
                    f"{fields[0]!r} and {fields[1]!r}")
            rows.append(values)
            lines.append(number)
    if not rows:
        raise TrajectoryFormatError(f"{path}: no rows (expected lines 'frame pedestrian x y')")
    return np.array(rows, dtype=np.float64), lines


def frame_step(rows: np.ndarray) -> int:
    """The file's frame step: the most common difference between consecutive annotated frames
    (10 in ETH/UCY)."""
    frames = np.unique(rows[:, 0])
    if frames.size < 2:
        return 1
    diffs, counts = np.unique(np.diff(frames), return_counts=True)
    return int(diffs[np.argmax(counts)])


@dataclass
class Track:
    """One pedestrian's run of consecutive frames: ``frames (T,)`` int64, ``xy (T, 2)``."""

    pedestrian: int
    frames: np.ndarray
    xy: np.ndarray


def split_tracks(rows: np.ndarray, step: int | None = None) -> list[Track]:
    """Each pedestrian's rows cut into runs of frames ``step`` apart (a gap starts a new track;
    nothing is interpolated). ``step`` defaults to :func:`frame_step`."""
    step = frame_step(rows) if step is None else int(step)
    by_ped = rows[np.lexsort((rows[:, 0], rows[:, 1]))]
    tracks: list[Track] = []
    peds, starts = np.unique(by_ped[:, 1], return_index=True)
    for ped, block in zip(peds, np.split(by_ped, starts[1:])):
        frames = block[:, 0].astype(np.int64)
        cuts = np.flatnonzero(np.diff(frames) != step) + 1
        for piece_f, piece_xy in zip(np.split(frames, cuts), np.split(block[:, 2:], cuts)):
            tracks.append(Track(int(ped), piece_f, np.ascontiguousarray(piece_xy)))
    return tracks


@dataclass
class Windows:
    """The windows of one or more scenes: ``traj (N, obs_len + pred_len, 2)`` metres; per window
    its ``group`` (windows of the same frames of the same file share one, numbered 0..G-1 in
    order), ``start`` frame, ``pedestrian`` id and ``scene`` index into ``scenes``."""

    traj: np.ndarray
    group: np.ndarray
    start: np.ndarray
    pedestrian: np.ndarray
    scene: np.ndarray
    scenes: list[str]
    obs_len: int

    @staticmethod
    def concat(parts: list[Windows]) -> Windows:
        """One set from several (groups renumbered, scenes appended)."""
        if not parts:
            raise ValueError("Windows.concat: nothing to concatenate")
        groups, scenes_idx, names, offset = [], [], [], 0
        for p in parts:
            groups.append(p.group + offset)
            offset += int(p.group.max()) + 1 if p.group.size else 0
            scenes_idx.append(p.scene + len(names))
            names += p.scenes
        return Windows(np.concatenate([p.traj for p in parts]), np.concatenate(groups),
                       np.concatenate([p.start for p in parts]),
                       np.concatenate([p.pedestrian for p in parts]),
                       np.concatenate(scenes_idx), names, parts[0].obs_len)


def make_windows(rows: np.ndarray, obs_len: int = 8, pred_len: int = 12, skip: int = 1,
                 min_peds: int = 2, step: int | None = None, name: str = "scene") -> Windows:
    """Social GAN's windows of one file's rows (see the module docstring): every
    ``obs_len + pred_len`` consecutive frames starting every ``skip`` frames, each pedestrian
    present in all of them, windows with at least ``min_peds`` such pedestrians."""
    if obs_len < 2 or pred_len < 1:
        raise ValueError(f"make_windows: need obs_len >= 2 and pred_len >= 1, got {obs_len}, "
                         f"{pred_len}")
    step = frame_step(rows) if step is None else int(step)
    length = obs_len + pred_len
    frames = np.unique(rows[:, 0]).astype(np.int64)
    starts_ok = frames[::skip]  # windows start at every skip-th annotated frame
    traj, start, ped = [], [], []
    for t in split_tracks(rows, step):
        n = t.frames.size - length + 1
        if n <= 0:
            continue
        keep = np.isin(t.frames[:n], starts_ok)
        if not keep.any():
            continue
        view = np.lib.stride_tricks.sliding_window_view(t.xy, length, axis=0)  # (n, 2, L)
        traj.append(view.transpose(0, 2, 1)[keep])
        start.append(t.frames[:n][keep])
        ped.append(np.full(int(keep.sum()), t.pedestrian, dtype=np.int64))
    if not traj:
        return Windows(np.zeros((0, length, 2)), np.zeros(0, np.int64), np.zeros(0, np.int64),
                       np.zeros(0, np.int64), np.zeros(0, np.int64), [name], obs_len)
    traj_a, start_a, ped_a = np.concatenate(traj), np.concatenate(start), np.concatenate(ped)
    uniq, group, counts = np.unique(start_a, return_inverse=True, return_counts=True)
    keep = counts[group] >= min_peds
    order = np.lexsort((ped_a[keep], start_a[keep]))
    start_k = start_a[keep][order]
    _, group_k = np.unique(start_k, return_inverse=True)
    return Windows(np.ascontiguousarray(traj_a[keep][order]), group_k.astype(np.int64), start_k,
                   ped_a[keep][order], np.zeros(start_k.size, np.int64), [name], obs_len)


class TrajectoryWindows(Dataset):
    """A data set of windows: sample ``i`` is ``(observed (obs_len, 2), future (pred_len, 2))``,
    positions in metres, float32 (``__getitems__`` gathers a batch at once)."""

    def __init__(self, windows: Windows) -> None:
        self.windows = windows
        data = windows.traj.astype(np.float32)
        self.observed = data[:, :windows.obs_len]
        self.future = data[:, windows.obs_len:]

    def __len__(self) -> int:
        return self.observed.shape[0]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.observed[index], self.future[index]

    def __getitems__(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.observed[indices], self.future[indices]

    def __repr__(self) -> str:
        groups = int(self.windows.group.max()) + 1 if len(self) else 0
        return f"TrajectoryWindows({len(self)} windows, {groups} groups, {self.windows.scenes})"


def find_root(root: str | os.PathLike | None = None) -> Path:
    """The ETH/UCY folder (holding ``all_data/``, ``train/``, ``val/``): ``root`` if given, else
    ``$DEEPWISE_DATA/eth-ucy`` or ``$DEEPWISE_DATA``; DatasetNotFoundError says where it looked."""
    if root is not None:
        candidates = [Path(root), Path(root) / "eth-ucy"]
    else:
        env = [p for p in os.environ.get("DEEPWISE_DATA", "").split(os.pathsep) if p]
        candidates = [c for p in env for c in (Path(p) / "eth-ucy", Path(p))]
    for c in candidates:
        if (c / "all_data").is_dir() and (c / "train").is_dir() and (c / "val").is_dir():
            return c
    looked = ", ".join(str(c) for c in candidates) or "nowhere ($DEEPWISE_DATA is not set)"
    raise DatasetNotFoundError(
        f"ETH/UCY data not found: looked in {looked} for a folder holding all_data/, train/ and "
        f"val/ (pass its path, or set $DEEPWISE_DATA to the folder that holds eth-ucy/)")


def load_scene(path: str | os.PathLike, obs_len: int = 8, pred_len: int = 12, skip: int = 1,
               min_peds: int = 2) -> TrajectoryWindows:
    """The windows of one trajectory file (any file in the ETH/UCY format)."""
    rows = read_trajectories(path)
    return TrajectoryWindows(make_windows(rows, obs_len, pred_len, skip, min_peds,
                                          name=Path(path).stem))


def _files(folder: Path, stems: list[str], suffix: str) -> list[Path]:
    paths = [folder / f"{s}{suffix}.txt" for s in stems]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"eth_ucy: missing scene files {missing}")
    return paths


def load_fold(test_scene: str, root: str | os.PathLike | None = None, obs_len: int = 8,
              pred_len: int = 12, skip: int = 1, min_peds: int = 2
              ) -> dict[str, TrajectoryWindows]:
    """Leave-one-scene-out: ``{"train", "val", "test"}`` for ``test_scene`` (see
    :func:`scene_name` for its spellings): the other scenes' (and the training-only scenes')
    ``train/`` and ``val/`` files, and the held-out scene's ``all_data/`` files."""
    key = scene_name(test_scene)
    base = find_root(root)
    others = [s for k, stems in SCENES.items() if k != key for s in stems] + list(TRAIN_ONLY)

    def windows(paths: list[Path]) -> TrajectoryWindows:
        parts = [make_windows(read_trajectories(p), obs_len, pred_len, skip, min_peds,
                              name=p.stem) for p in paths]
        return TrajectoryWindows(Windows.concat(parts))

    return {"train": windows(_files(base / "train", others, "_train")),
            "val": windows(_files(base / "val", others, "_val")),
            "test": windows(_files(base / "all_data", list(SCENES[key]), ""))}
