"""Low-detail copies of STL meshes for rendering (vertex clustering), pure numpy.

Why: TinyRenderer's cost at 48-128 px is dominated by triangle count, and the wx250s visual meshes
(11k triangles) took about three quarters of a 64x64 frame. Collapsing vertices onto a grid a few
millimetres wide keeps the silhouette at these resolutions and cuts the triangles several-fold.
Collision meshes are left untouched, so physics is unchanged.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_HEADER = 80
_RECORD = np.dtype([('normal', '<f4', 3), ('v', '<f4', (3, 3)), ('attr', '<u2')])


def read_stl(path: str | Path) -> np.ndarray:
    """Binary STL -> (n, 3, 3) float32 triangle vertices."""
    data = Path(path).read_bytes()
    if len(data) < _HEADER + 4:
        raise ValueError(f'{path}: expected a binary STL, got {len(data)} bytes')
    n = struct.unpack_from('<I', data, _HEADER)[0]
    if len(data) != _HEADER + 4 + n * _RECORD.itemsize:
        raise ValueError(f'{path}: expected {n} binary STL triangles, size does not match '
                         '(ASCII STL is not supported)')
    return np.frombuffer(data, _RECORD, count=n, offset=_HEADER + 4)['v'].copy()


def write_stl(tris: np.ndarray) -> bytes:
    """(n, 3, 3) triangles -> binary STL bytes (normals from the winding)."""
    rec = np.zeros(len(tris), _RECORD)
    rec['v'] = tris
    nrm = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    length = np.linalg.norm(nrm, axis=1, keepdims=True)
    rec['normal'] = nrm / np.where(length > 0, length, 1.0)
    return b'ptr_sim lod'.ljust(_HEADER, b' ') + struct.pack('<I', len(tris)) + rec.tobytes()


def cluster(tris: np.ndarray, cell: float) -> np.ndarray:
    """Vertex clustering: snap vertices to a grid, average each cell, drop collapsed triangles."""
    verts = tris.reshape(-1, 3).astype(np.float64)
    keys = np.floor(verts / cell).astype(np.int64)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    sums = np.zeros((inv.max() + 1, 3))
    np.add.at(sums, inv, verts)
    centers = sums / np.bincount(inv)[:, None]
    faces = inv.reshape(-1, 3)
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (
        faces[:, 0] != faces[:, 2])
    faces = faces[keep]
    faces = np.unique(faces, axis=0)  # exact duplicates only (winding preserved)
    return centers[faces].astype(np.float32)
