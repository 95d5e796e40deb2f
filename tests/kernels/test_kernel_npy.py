"""o2c_npy_read / o2c_npy_write: round trips with numpy, header versions, and error reports."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import _ctypes_structs as S


def npy_read(lib, path, descr, shape, dtype):
    dst = np.zeros(shape, dtype)
    err = ctypes.create_string_buffer(256)
    shp = (ctypes.c_int64 * max(1, len(shape)))(*shape)
    rc = lib.o2c_npy_read(str(path).encode(), descr.encode(), shp, len(shape), dst.ctypes.data,
                          np.dtype(dtype).itemsize, err, len(err))
    return rc, dst, err.value.decode()


def npy_write(lib, path, arr):
    shp = (ctypes.c_int64 * max(1, arr.ndim))(*arr.shape)
    return lib.o2c_npy_write(str(path).encode(), arr.dtype.str.encode(), shp, arr.ndim, arr.ctypes.data,
                             arr.itemsize)


CASES = [
    (np.float32, (2, 3)), (np.float32, ()), (np.float32, (0, 4)), (np.float64, (5,)), (np.int64, (2, 1, 3)),
    (np.int32, (7,)), (np.uint8, (3, 4)), (np.int8, (6,)), (np.bool_, (4,)), (np.float16, (2, 2, 2, 2)),
]


@pytest.mark.parametrize("dtype,shape", CASES, ids=lambda v: str(v))
def test_round_trip(klib, tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    arr = np.ascontiguousarray((rng.standard_normal(shape) * 50).astype(dtype))
    p = tmp_path / "a.npy"
    assert npy_write(klib, p, arr) == 0
    back = np.load(p)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    raw = p.read_bytes()
    hlen = int.from_bytes(raw[8:10], "little")
    assert raw[6] == 1 and (10 + hlen) % 64 == 0 and raw[10 + hlen - 1:10 + hlen] == b"\n"
    rc, got, err = npy_read(klib, p, arr.dtype.str, shape, dtype)
    assert rc == 0, err
    np.testing.assert_array_equal(got, arr)
    # a file written by numpy itself
    q = tmp_path / "b.npy"
    np.save(q, arr)
    rc, got, err = npy_read(klib, q, arr.dtype.str, shape, dtype)
    assert rc == 0 and err == ""
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_read_header_versions(klib, tmp_path, version):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = tmp_path / "v.npy"
    with open(p, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)
    rc, got, err = npy_read(klib, p, "<f4", (3, 4), np.float32)
    assert rc == 0, err
    np.testing.assert_array_equal(got, arr)


def test_read_checks_element_count_not_shape(klib, tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = tmp_path / "c.npy"
    np.save(p, arr)
    rc, got, err = npy_read(klib, p, "<f4", (2, 6), np.float32)
    assert rc == 0, err
    np.testing.assert_array_equal(got.ravel(), arr.ravel())


def test_read_fortran_vector_ok(klib, tmp_path):
    arr = np.asfortranarray(np.arange(5, dtype=np.float32))
    p = tmp_path / "f.npy"
    np.save(p, arr)
    rc, got, err = npy_read(klib, p, "<f4", (5,), np.float32)
    assert rc == 0, err
    np.testing.assert_array_equal(got, arr)


def write_raw(path, header: str, data: bytes = b"", magic=b"\x93NUMPY", version=1):
    h = header.encode()
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    with open(path, "wb") as f:
        f.write(magic + bytes([version, 0]) + len(h).to_bytes(2, "little") + h + data)


def test_errors(klib, tmp_path):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    p = tmp_path / "e.npy"
    np.save(p, arr)

    rc, _, err = npy_read(klib, tmp_path / "missing.npy", "<f4", (2, 3), np.float32)
    assert rc != 0 and "missing.npy" in err and "cannot open" in err

    rc, _, err = npy_read(klib, p, "<f8", (2, 3), np.float64)
    assert rc != 0 and "'<f4'" in err and "'<f8'" in err and str(p) in err

    rc, _, err = npy_read(klib, p, "<f4", (2, 4), np.float32)
    assert rc != 0 and "6 elements" in err and "expected 8" in err

    np.save(p, arr.astype(">f4"))
    rc, _, err = npy_read(klib, p, "<f4", (2, 3), np.float32)
    assert rc != 0 and "'>f4'" in err

    np.save(p, np.asfortranarray(arr))
    rc, _, err = npy_read(klib, p, "<f4", (2, 3), np.float32)
    assert rc != 0 and "Fortran" in err

    p.write_bytes(b"not a numpy file at all")
    rc, _, err = npy_read(klib, p, "<f4", (2, 3), np.float32)
    assert rc != 0 and "magic" in err

    np.save(p, arr)
    p.write_bytes(p.read_bytes()[:-5])
    rc, _, err = npy_read(klib, p, "<f4", (2, 3), np.float32)
    assert rc != 0 and "truncated" in err

    write_raw(p, "{'fortran_order': False, 'shape': (2, 3), }", arr.tobytes())
    rc, _, err = npy_read(klib, p, "<f4", (2, 3), np.float32)
    assert rc != 0 and "descr" in err

    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", arr.tobytes(), version=7)
    rc, _, err = npy_read(klib, p, "<f4", (2, 3), np.float32)
    assert rc != 0 and "version" in err
    for e in [err]:
        assert "\n" not in e


def test_one_byte_types_ignore_byte_order(klib, tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    p = tmp_path / "u.npy"
    np.save(p, arr)  # numpy writes '|u1'
    rc, got, err = npy_read(klib, p, "<u1", (10,), np.uint8)
    assert rc == 0, err
    np.testing.assert_array_equal(got, arr)


def test_write_error(klib, tmp_path):
    arr = np.zeros(3, np.float32)
    assert npy_write(klib, tmp_path / "no_such_dir" / "x.npy", arr) != 0


def test_write_rank8(klib, tmp_path):
    arr = np.arange(2 * 3 * 2, dtype=np.float32).reshape(1, 2, 1, 3, 1, 2, 1, 1)
    p = tmp_path / "w.npy"
    assert npy_write(klib, p, arr) == 0
    np.testing.assert_array_equal(np.load(p), arr)
