"""Run a built model library from Python (ctypes), for validation and tests."""
from __future__ import annotations

import ctypes
import json
import os
import platform
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import O2CError


def actual_view(buf: np.ndarray, shape) -> np.ndarray:
    """The output written densely in `shape` at the start of `buf` (sized for its maxima)."""
    shape = tuple(int(d) for d in shape)
    if shape == buf.shape:
        return buf
    n = int(np.prod(shape, dtype=np.int64))
    if len(shape) != buf.ndim or n > buf.size or any(d < 0 for d in shape):
        raise O2CError(f"the model library reported shape {list(shape)} for a buffer of shape {list(buf.shape)}")
    return buf.reshape(-1)[:n].reshape(shape)


class ModelLibrary:
    """lib<sym>.so of a converted model: run(inputs) -> outputs; trace(inputs) -> intermediates."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        try:
            self.desc = json.loads((self.dir / "model.json").read_text())
        except FileNotFoundError:
            raise O2CError(f"'{self.dir}' is not an onnx2cedr output folder (no model.json)") from None
        sym = self.desc["symbol"]
        built_for = self.desc.get("target")
        if built_for and built_for.split("-")[0] != platform.machine():
            raise O2CError(f"'{self.dir}' was built for {built_for} and cannot be loaded on this "
                           f"{platform.machine()} machine (run its executable on the board or under an "
                           f"emulator, e.g. qemu-aarch64 -L /usr/aarch64-linux-gnu)")
        lib_name = self.desc.get("artifacts", {}).get("lib")
        if not lib_name:
            raise O2CError(f"'{self.dir}' was converted without the library artifact")
        need = {"address": "libasan", "thread": "libtsan"}
        for san in set(self.desc.get("sanitize") or ()) & set(need):
            if need[san] not in os.environ.get("LD_PRELOAD", ""):
                raise O2CError(f"'{self.dir}' was converted with --sanitize {san}: its library loads into Python only "
                               f"with {need[san]}.so in LD_PRELOAD (run its executable instead)")
        self._lib = ctypes.CDLL(str((self.dir / lib_name).resolve()), mode=ctypes.RTLD_LOCAL)
        pp = ctypes.POINTER(ctypes.c_void_p)
        self._run = getattr(self._lib, f"{sym}_run")
        self._run.argtypes = [pp, pp]
        self._run.restype = ctypes.c_int
        # every output's actual shape (absent from libraries built before dimensions known only at run time)
        self._run_shaped = getattr(self._lib, f"{sym}_run_shaped", None)
        if self._run_shaped is not None:
            self._run_shaped.argtypes = [pp, pp, ctypes.POINTER(ctypes.c_int64)]
            self._run_shaped.restype = ctypes.c_int
        self._trace = getattr(self._lib, f"{sym}_trace")
        self._trace.argtypes = [pp, pp, pp]
        self._trace.restype = ctypes.c_int
        # per-layer profile (libraries built before it existed have no such entry point)
        self._profile = getattr(self._lib, f"{sym}_profile", None)
        if self._profile is not None:
            self._profile.argtypes = [pp, pp, ctypes.POINTER(ctypes.c_int64)]
            self._profile.restype = ctypes.c_int
            nodes = getattr(self._lib, f"{sym}_profile_nodes")
            nodes.restype = ctypes.c_int
            self.num_layers = int(nodes())
        # who ran the kernels' parallel work (absent from libraries built before it existed)
        self._pool_stats = getattr(self._lib, f"{sym}_pool_stats", None)
        if self._pool_stats is not None:
            self._pool_stats.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64), ctypes.c_int]
            self._pool_stats.restype = ctypes.c_int
            self._pool_stats_reset = getattr(self._lib, f"{sym}_pool_stats_reset")
            self._pool_stats_reset.restype = None
        self._err = getattr(self._lib, f"{sym}_last_error")
        self._err.restype = ctypes.c_char_p
        self.inputs = [(t["name"], np.dtype(t["dtype"]), tuple(t["shape"])) for t in self.desc["inputs"]]
        self.outputs = [(t["name"], np.dtype(t["dtype"]), tuple(t["shape"])) for t in self.desc["outputs"]]
        # outputs with a dimension known only at run time ("shape" holds its maximum): name -> that dim
        self.bounded = {t["name"]: t["bound"]["dim"] for t in self.desc["outputs"] if t.get("bound")}
        by_name = {t["name"]: t for t in self.desc["tensors"]}
        self.traced = [(n, np.dtype(by_name[n]["dtype"]), tuple(by_name[n]["shape"])) for n in self.desc["traced"]]

    @staticmethod
    def _ptrs(arrays: Sequence[np.ndarray]):
        arr = (ctypes.c_void_p * max(len(arrays), 1))()
        for k, a in enumerate(arrays):
            arr[k] = a.ctypes.data
        return arr

    def _inputs(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self.inputs):
            raise O2CError(f"the model takes {len(self.inputs)} input(s), {len(inputs)} given")
        out = []
        for (name, dt, shape), a in zip(self.inputs, inputs):
            a = np.asarray(a)
            if tuple(a.shape) != shape:
                raise O2CError(f"input '{name}' must have shape {list(shape)}, got {list(a.shape)}")
            out.append(np.ascontiguousarray(a, dtype=dt))
        return out

    def _check(self, rc: int) -> None:
        if rc == 1:  # O2C_ERR_WEIGHTS: the library's one-line reason names the file and what is wrong
            raise O2CError(self._err().decode(errors="replace"))
        if rc == 3:  # O2C_ERR_BOUND: a dimension known only at run time came out over its maximum
            raise O2CError(self._err().decode(errors="replace"))
        if rc != 0:
            raise O2CError(f"the model library failed (code {rc}): {self._err().decode(errors='replace')}")

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The outputs in their actual shapes (those with a dimension known only at run time: views of
        the first elements of buffers sized for its maximum, where the library writes them densely)."""
        ins = self._inputs(inputs)
        outs = [np.empty(shape, dt) for _, dt, shape in self.outputs]
        if self._run_shaped is None:
            self._check(self._run(self._ptrs(ins), self._ptrs(outs)))
            return outs
        shapes = np.zeros((max(len(outs), 1), 8), np.int64)
        self._check(self._run_shaped(self._ptrs(ins), self._ptrs(outs),
                                     shapes.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))))
        return [actual_view(a, shapes[k, :a.ndim]) for k, a in enumerate(outs)]

    def trace(self, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        ins = self._inputs(inputs)
        outs = [np.empty(shape, dt) for _, dt, shape in self.outputs]
        tr = [np.empty(shape, dt) for _, dt, shape in self.traced]
        self._check(self._trace(self._ptrs(ins), self._ptrs(outs), self._ptrs(tr)))
        return outs, {n: a for (n, _, _), a in zip(self.traced, tr)}

    def profile(self, inputs: Sequence[np.ndarray], runs: int = 50, warmup: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Time every layer: (per-run totals in ns [runs], per-layer times in ns [runs, layers]).
        The layers of a wave issued together (_nb + barrier) are timed as one: the first of them
        gets the wave's time, the others 0."""
        if self._profile is None:
            raise O2CError(f"'{self.dir}' was built by an older onnx2cedr without the profile entry point: re-run convert")
        if runs < 1:
            raise O2CError(f"runs must be at least 1, got {runs}")
        ins = self._inputs(inputs)
        outs = [np.empty(shape, dt) for _, dt, shape in self.outputs]
        ip, op = self._ptrs(ins), self._ptrs(outs)
        stamps = np.zeros((warmup + runs, self.num_layers + 1), np.int64)
        for r in range(warmup + runs):
            self._check(self._profile(ip, op, stamps[r].ctypes.data_as(ctypes.POINTER(ctypes.c_int64))))
        stamps = stamps[warmup:]
        per_layer = np.diff(stamps, axis=1)
        # layers of one wave share the barrier's stamp: its whole time goes to the first of them
        return stamps[:, -1] - stamps[:, 0], np.maximum(per_layer, 0)

    def _need_pool_stats(self) -> None:
        if self._pool_stats is None:
            raise O2CError(f"'{self.dir}' was built by an older onnx2cedr without the pool statistics: re-run convert")

    def pool_stats_reset(self) -> None:
        """Zero the counters pool_stats() reads (those of the calling Python thread)."""
        self._need_pool_stats()
        self._pool_stats_reset()

    def pool_stats(self) -> dict[str, list[int]]:
        """Who ran this library's parallel kernel work on the calling thread since the last
        pool_stats_reset(): {"tasks": [...], "os_tids": [...]}, one entry per pool thread (entry 0 the
        calling thread, entry k its k-th helper): the tasks it ran and its OS thread id (what
        threading.get_native_id() gives on Linux; 0 for a thread that ran none). The counters belong
        to the thread that runs the model: read them from the thread that called run()."""
        self._need_pool_stats()
        n = int(self._pool_stats(None, None, 0))
        tasks = (ctypes.c_uint64 * n)()
        tids = (ctypes.c_uint64 * n)()
        self._pool_stats(tasks, tids, n)
        return {"tasks": list(tasks), "os_tids": list(tids)}
