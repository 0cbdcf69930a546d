"""The task registry: kitchens (scene layouts) and tasks (goal, start distribution, horizon).

A task is plain data plus a success predicate over the privileged state (`Privileged`), so the
predicate can be checked without rendering and reused by scripted policies, tests and reward
labelling. Kitchens differ in table colour, containers, objects, fixtures and camera offset, like
the toy kitchens of Bridge/PTR.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class ObjectSpec:
    """A movable object: its shape, size and colour."""

    kind: str  # 'box' | 'cylinder'
    size: tuple[float, float, float]  # box half extents | (radius, length, 0)
    rgba: RGBA

    @property
    def half_height(self) -> float:
        return self.size[2] if self.kind == 'box' else self.size[1] / 2


@dataclass(frozen=True)
class ContainerSpec:
    """A bin, tray or bowl: inner extent, wall height, colour and position."""

    inner: tuple[float, float]  # inner x, y extent (m)
    height: float
    rgba: RGBA
    xy: tuple[float, float]


@dataclass(frozen=True)
class Kitchen:
    """A scene layout: table, camera offset, objects, containers and fixture."""

    name: str
    table_rgba: RGBA
    camera_offset: tuple[float, float, float]
    objects: dict[str, ObjectSpec] = field(default_factory=dict)
    containers: dict[str, ContainerSpec] = field(default_factory=dict)
    fixture: str = ''  # '' | 'drawer' | 'door'
    spawn_low: tuple[float, float] = (0.24, -0.06)
    spawn_high: tuple[float, float] = (0.34, 0.06)


@dataclass(frozen=True)
class Task:
    """A task: its kitchen, kind, horizon and goals (what success means)."""

    name: str
    index: int
    kitchen: str
    # place | sort | binsort | open_drawer | close_drawer | open_door | close_door | drawer_grasp
    # ('sort': one object of the sorting kitchen into one bin, the other object absent)
    kind: str
    horizon: int
    goals: tuple[tuple[str, str], ...] = ()  # (object, container) pairs to satisfy
    drawer_start: str = ''  # open | closed | blocked (drawer tasks)


@dataclass
class Privileged:
    """What success predicates and scripted policies see (not the learner)."""

    objects: dict[str, np.ndarray]  # name -> position (3,)
    ee: np.ndarray  # (3,)
    gripper: float  # measured opening in [0, 1]
    drawer: float = 0.0  # drawer opening (m)
    door: float = 0.0  # door angle (rad), 0 = closed


# Fixtures (drawer cabinet, microwave door) in the base frame; shared by scene and scripts.
DRAWER_FRONT_X = 0.36  # x of the closed drawer's front face
DRAWER_Y = 0.10
DRAWER_MAX = 0.12
DRAWER_OPEN_AT = 0.08
DRAWER_CLOSED_AT = 0.015
DOOR_HINGE = (0.34, 0.10)  # x, y of the hinge axis (front-left corner of the microwave)
DOOR_WIDTH = 0.20
DOOR_MAX = 1.6
DOOR_OPEN_AT = 1.0
DOOR_CLOSED_AT = 0.1
LIFT_Z = 0.07  # an object counts as grasped out of the drawer above this height

K_RGBA = {
    'red': (0.85, 0.1, 0.1, 1.0), 'green': (0.1, 0.7, 0.2, 1.0), 'blue': (0.1, 0.3, 0.9, 1.0),
    'yellow': (0.95, 0.85, 0.1, 1.0), 'orange': (1.0, 0.5, 0.05, 1.0),
    'purple': (0.55, 0.2, 0.75, 1.0), 'cyan': (0.1, 0.8, 0.85, 1.0),
    'pink': (1.0, 0.45, 0.7, 1.0), 'white': (0.95, 0.95, 0.95, 1.0),
    'black': (0.1, 0.1, 0.1, 1.0), 'grey': (0.55, 0.55, 0.58, 1.0),
    'brown': (0.45, 0.28, 0.12, 1.0),
}
_CUBE = (0.016, 0.016, 0.016)
_CYL = (0.016, 0.04, 0.0)
_BLOCK = (0.022, 0.013, 0.016)


def _c(name: str) -> RGBA:
    return K_RGBA[name]


KITCHENS: dict[str, Kitchen] = {k.name: k for k in [
    Kitchen('wood_kitchen', (0.62, 0.45, 0.28, 1.0), (0.0, 0.0, 0.0),
            objects={'red_cube': ObjectSpec('box', _CUBE, _c('red')),
                     'yellow_can': ObjectSpec('cylinder', _CYL, _c('yellow'))},
            containers={'blue_tray': ContainerSpec((0.12, 0.12), 0.02, _c('blue'), (0.30, -0.17)),
                        'grey_pot': ContainerSpec((0.10, 0.10), 0.05, _c('grey'), (0.30, 0.17))}),
    Kitchen('marble_kitchen', (0.85, 0.85, 0.82, 1.0), (-0.03, 0.04, 0.02),
            objects={'green_block': ObjectSpec('box', _BLOCK, _c('green')),
                     'purple_cube': ObjectSpec('box', _CUBE, _c('purple'))},
            containers={'black_bowl': ContainerSpec((0.10, 0.10), 0.04, _c('black'), (0.27, 0.18)),
                        'red_basket': ContainerSpec((0.12, 0.10), 0.035, _c('red'),
                                                    (0.36, -0.16))}),
    Kitchen('blue_kitchen', (0.25, 0.35, 0.55, 1.0), (0.02, -0.05, -0.02),
            objects={'orange_can': ObjectSpec('cylinder', _CYL, _c('orange')),
                     'white_cube': ObjectSpec('box', _CUBE, _c('white'))},
            containers={'yellow_tray': ContainerSpec((0.13, 0.12), 0.02, _c('yellow'),
                                                     (0.34, 0.17)),
                        'green_pan': ContainerSpec((0.11, 0.11), 0.03, _c('green'),
                                                   (0.26, -0.18))}),
    Kitchen('green_kitchen', (0.3, 0.5, 0.3, 1.0), (0.0, 0.06, 0.03),
            objects={'pink_block': ObjectSpec('box', _BLOCK, _c('pink')),
                     'cyan_can': ObjectSpec('cylinder', _CYL, _c('cyan'))},
            containers={'brown_box': ContainerSpec((0.11, 0.11), 0.045, _c('brown'),
                                                   (0.31, -0.17)),
                        'white_plate': ContainerSpec((0.12, 0.12), 0.015, _c('white'),
                                                     (0.31, 0.17))}),
    Kitchen('sorting_kitchen', (0.5, 0.5, 0.5, 1.0), (0.02, 0.0, 0.0),
            objects={'blue_cube': ObjectSpec('box', _CUBE, _c('blue')),
                     'orange_block': ObjectSpec('box', _BLOCK, _c('orange'))},
            containers={'blue_bin': ContainerSpec((0.11, 0.11), 0.04, _c('blue'), (0.31, -0.17)),
                        'orange_bin': ContainerSpec((0.11, 0.11), 0.04, _c('orange'),
                                                    (0.31, 0.17))}),
    Kitchen('drawer_kitchen', (0.7, 0.6, 0.45, 1.0), (0.0, -0.03, 0.0),
            objects={'drawer_cube': ObjectSpec('box', (0.014, 0.014, 0.014), _c('green')),
                     'blocker': ObjectSpec('box', (0.016, 0.016, 0.02), _c('red'))},
            containers={'side_tray': ContainerSpec((0.11, 0.11), 0.02, _c('blue'),
                                                   (0.26, -0.18))},
            fixture='drawer', spawn_low=(0.24, -0.12), spawn_high=(0.30, -0.06)),
    Kitchen('microwave_kitchen', (0.35, 0.3, 0.3, 1.0), (0.0, 0.0, 0.02), fixture='door'),
]}

_T = [
    # (name, kitchen, kind, horizon, goals, drawer_start)
    ('PutRedCubeInBlueTray', 'wood_kitchen', 'place', 40, (('red_cube', 'blue_tray'),), ''),
    ('PutYellowCanInGreyPot', 'wood_kitchen', 'place', 40, (('yellow_can', 'grey_pot'),), ''),
    ('PutGreenBlockInBlackBowl', 'marble_kitchen', 'place', 40,
     (('green_block', 'black_bowl'),), ''),
    ('PutPurpleCubeInRedBasket', 'marble_kitchen', 'place', 40,
     (('purple_cube', 'red_basket'),), ''),
    ('PutOrangeCanInYellowTray', 'blue_kitchen', 'place', 40,
     (('orange_can', 'yellow_tray'),), ''),
    ('PutWhiteCubeInGreenPan', 'blue_kitchen', 'place', 40, (('white_cube', 'green_pan'),), ''),
    ('PutPinkBlockInBrownBox', 'green_kitchen', 'place', 40, (('pink_block', 'brown_box'),), ''),
    ('PutCyanCanOnWhitePlate', 'green_kitchen', 'place', 40, (('cyan_can', 'white_plate'),), ''),
    # PTR appendix B: the bin sort's target demos are 80 steps long.
    ('BinSort', 'sorting_kitchen', 'binsort', 80,
     (('blue_cube', 'blue_bin'), ('orange_block', 'orange_bin')), ''),
    ('OpenDrawer', 'drawer_kitchen', 'open_drawer', 30, (), 'closed'),
    ('CloseDrawer', 'drawer_kitchen', 'close_drawer', 30, (), 'open'),
    ('GraspFromOpenDrawer', 'drawer_kitchen', 'drawer_grasp', 30, (), 'open'),
    ('GraspFromClosedDrawer', 'drawer_kitchen', 'drawer_grasp', 50, (), 'closed'),
    ('GraspFromBlockedDrawer', 'drawer_kitchen', 'drawer_grasp', 80, (), 'blocked'),
    ('OpenDoor', 'microwave_kitchen', 'open_door', 30, (), ''),
    ('CloseDoor', 'microwave_kitchen', 'close_door', 30, (), ''),
    # PTR appendix B's bin-sort prior data: one object into one of the two bins (not always the
    # bin the sort needs), 30-40 steps, the two target objects never in one scene together.
    ('PutBlueCubeInBlueBin', 'sorting_kitchen', 'sort', 40, (('blue_cube', 'blue_bin'),), ''),
    ('PutBlueCubeInOrangeBin', 'sorting_kitchen', 'sort', 40, (('blue_cube', 'orange_bin'),),
     ''),
    ('PutOrangeBlockInOrangeBin', 'sorting_kitchen', 'sort', 40,
     (('orange_block', 'orange_bin'),), ''),
    ('PutOrangeBlockInBlueBin', 'sorting_kitchen', 'sort', 40, (('orange_block', 'blue_bin'),),
     ''),
]
TASKS: dict[str, Task] = {n: Task(n, i, k, kind, h, goals, ds)
                          for i, (n, k, kind, h, goals, ds) in enumerate(_T)}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f'task: expected one of {sorted(TASKS)}, got {name!r}') from None


def present_objects(task: Task) -> list[str]:
    """The movable objects a task's scene holds: a 'sort' task's own object only."""
    objects = list(KITCHENS[task.kitchen].objects)
    if task.kind == 'sort':
        return [o for o in objects if o in {g[0] for g in task.goals}]
    return objects


def in_container(pos: np.ndarray, box: ContainerSpec, margin: float = 0.0) -> bool:
    """Object centre inside the container's inner footprint and below its rim (+2 cm)."""
    return (abs(pos[0] - box.xy[0]) < box.inner[0] / 2 + margin
            and abs(pos[1] - box.xy[1]) < box.inner[1] / 2 + margin
            and pos[2] < box.height + 0.02)


def goals_met(task: Task, s: Privileged) -> int:
    """How many (object, container) goals hold now: a compound task's partial progress."""
    k = KITCHENS[task.kitchen]
    return sum(in_container(s.objects[o], k.containers[c]) for o, c in task.goals)


def success(task: Task, s: Privileged) -> bool:
    """The task's success predicate on privileged state."""
    k = KITCHENS[task.kitchen]
    if task.kind in ('place', 'sort', 'binsort'):
        return all(in_container(s.objects[o], k.containers[c]) for o, c in task.goals)
    if task.kind == 'open_drawer':
        return s.drawer > DRAWER_OPEN_AT
    if task.kind == 'close_drawer':
        return s.drawer < DRAWER_CLOSED_AT
    if task.kind == 'open_door':
        return s.door > DOOR_OPEN_AT
    if task.kind == 'close_door':
        return s.door < DOOR_CLOSED_AT
    if task.kind == 'drawer_grasp':  # lifted out of the drawer and held
        return bool(s.objects['drawer_cube'][2] > LIFT_Z and s.gripper < 0.9)
    raise ValueError(f'task {task.name}: unknown kind {task.kind!r}')
