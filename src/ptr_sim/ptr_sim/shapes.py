"""Scene props (objects, open containers, a drawer cabinet, a hinged door) as small URDFs.

Why URDF and not createMultiBody: URDF carries joint limits and per-part colours, which the drawer
and the door need, and one code path builds every prop. The text is cached by content hash.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ptr_core.atomic import write_bytes
from ptr_sim.robot_model import cache_dir

RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class Part:
    """One box or cylinder of a link: size = box half extents, or (radius, length, -)."""

    kind: str  # 'box' | 'cylinder'
    size: tuple[float, float, float]
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rgba: RGBA = (0.5, 0.5, 0.5, 1.0)

    def geometry(self) -> str:
        if self.kind == 'box':
            return '<box size="%g %g %g"/>' % tuple(2 * s for s in self.size)
        return '<cylinder radius="%g" length="%g"/>' % (self.size[0], self.size[1])


def _link(name: str, parts: list[Part], mass: float) -> str:
    body = []
    for i, p in enumerate(parts):
        origin = '<origin xyz="%g %g %g"/>' % p.xyz
        body.append(f'<visual>{origin}<geometry>{p.geometry()}</geometry>'
                    f'<material name="{name}{i}"><color rgba="%g %g %g %g"/></material>'
                    f'</visual>' % p.rgba)
        body.append(f'<collision>{origin}<geometry>{p.geometry()}</geometry></collision>')
    inertia = max(mass, 1e-3) * 1e-4
    body.append(f'<inertial><mass value="{mass:g}"/><inertia ixx="{inertia:g}" ixy="0" ixz="0" '
                f'iyy="{inertia:g}" iyz="0" izz="{inertia:g}"/></inertial>')
    return f'<link name="{name}">' + ''.join(body) + '</link>'


def urdf(name: str, base: list[Part], base_mass: float = 0.0,
         child: list[Part] | None = None, child_mass: float = 0.5, joint: str = 'prismatic',
         axis: tuple[float, float, float] = (1, 0, 0), origin=(0.0, 0.0, 0.0),
         limits: tuple[float, float] = (0.0, 0.0)) -> Path:
    """Write (once) a one- or two-link URDF and return its path."""
    text = [f'<?xml version="1.0"?><robot name="{name}">', _link('base', base, base_mass)]
    if child:
        text.append(_link('child', child, child_mass))
        text.append(f'<joint name="hinge" type="{joint}"><parent link="base"/>'
                    f'<child link="child"/><origin xyz="%g %g %g"/>'
                    f'<axis xyz="%g %g %g"/><limit lower="{limits[0]:g}" upper="{limits[1]:g}" '
                    f'effort="100" velocity="2"/></joint>' % (*origin, *axis))
    text.append('</robot>\n')
    data = ''.join(text).encode()
    path = cache_dir() / 'props' / f'{name}-{hashlib.sha256(data).hexdigest()[:12]}.urdf'
    if not path.is_file():
        write_bytes(path, data)
    return path


def open_box(inner: tuple[float, float], height: float, wall: float, rgba: RGBA) -> list[Part]:
    """A container open at the top: floor + four walls, origin at the floor's bottom centre."""
    hx, hy = inner[0] / 2, inner[1] / 2
    w, h = wall / 2, height / 2
    return [
        Part('box', (hx + wall, hy + wall, w), (0, 0, w), rgba),
        Part('box', (w, hy + wall, h), (hx + w, 0, h), rgba),
        Part('box', (w, hy + wall, h), (-hx - w, 0, h), rgba),
        Part('box', (hx, w, h), (0, hy + w, h), rgba),
        Part('box', (hx, w, h), (0, -hy - w, h), rgba),
    ]
