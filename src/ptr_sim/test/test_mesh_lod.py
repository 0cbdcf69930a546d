"""Render-only mesh simplification: STL round trip, bounded geometric error, fewer triangles."""
import numpy as np
import pytest

from ptr_sim.mesh_lod import cluster, read_stl, write_stl
from ptr_sim.robot_model import assets_dir, urdf_path


def _sphere(n_lat=24, n_lon=48, r=30.0):
    th = np.linspace(0, np.pi, n_lat + 1)
    ph = np.linspace(0, 2 * np.pi, n_lon + 1)
    P = np.stack([np.outer(np.sin(th), np.cos(ph)), np.outer(np.sin(th), np.sin(ph)),
                  np.outer(np.cos(th), np.ones_like(ph))], -1) * r
    tris = []
    for i in range(n_lat):
        for j in range(n_lon):
            a, b, c, d = P[i, j], P[i + 1, j], P[i + 1, j + 1], P[i, j + 1]
            tris += [(a, b, c), (a, c, d)]
    return np.asarray(tris, np.float32)


def test_stl_round_trip(tmp_path):
    tris = _sphere()
    path = tmp_path / 's.stl'
    path.write_bytes(write_stl(tris))
    np.testing.assert_array_equal(read_stl(path), tris)
    bad = tmp_path / 'bad.stl'
    bad.write_bytes(b'solid ascii\n')
    with pytest.raises(ValueError, match='bad.stl: expected a binary STL'):
        read_stl(bad)


def test_cluster_bounds_the_error_and_cuts_triangles():
    tris = _sphere()
    cell = 6.0
    out = cluster(tris, cell)
    assert 0 < len(out) < len(tris) / 3
    # Every output vertex is the mean of vertices in one cell: within a cell diagonal of the
    # surface (radius 30) and inside the original's bounding box.
    radii = np.linalg.norm(out.reshape(-1, 3), axis=1)
    assert np.all(np.abs(radii - 30.0) < cell * np.sqrt(3))
    lo, hi = tris.reshape(-1, 3).min(0), tris.reshape(-1, 3).max(0)
    assert np.all(out.reshape(-1, 3) >= lo - 1e-4) and np.all(out.reshape(-1, 3) <= hi + 1e-4)
    # A cell far below the feature size keeps the surface: same total area.
    def area(t):
        return 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum()
    assert area(cluster(tris, 1e-3)) == pytest.approx(area(tris), rel=1e-4)
    assert area(out) == pytest.approx(area(tris), rel=0.1)  # and roughly so at 6 mm


def test_robot_urdf_renders_lod_but_collides_with_the_originals():
    text = urdf_path().read_text()
    original = str(assets_dir() / 'meshes' / 'wx250s_meshes')
    visual = text.split('<visual>')[1].split('</visual>')[0]
    collision = text.split('<collision>')[1].split('</collision>')[0]
    assert '-lod' in visual and original not in visual
    assert original in collision and '-lod' not in collision
    assert 'package://' not in urdf_path(lod=False).read_text()
