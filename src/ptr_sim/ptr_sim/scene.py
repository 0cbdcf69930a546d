"""One PyBullet world for one task: table, arm, kitchen props, fixture; reset and privileged state.

Why a saved state: the static world is built once per env; every reset restores the snapshot taken
right after building, creates the movable objects afresh and places the task's random start. That
makes same seed -> same trajectory hold across resets, not only for a fresh env.
"""
from __future__ import annotations

import numpy as np

from ptr_core.constants import START_MODES
from ptr_sim import tasks as T
from ptr_sim.arm import HOME_XYZ, START_JITTER, Arm
from ptr_sim.bullet import pb
from ptr_sim.shapes import Part, open_box, urdf

PHYSICS_HZ = 240
SOLVER_ITERATIONS = 25  # PyBullet: 50; 25 cut physics ~30% with unchanged success; 10 slipped
# PyBullet's default. A looser 1e-3 let the solver stop early (about 1.5x cheaper physics) but
# then results depend on warm-start caches that restoreState does not reset: not reproducible.
SOLVER_RESIDUAL = 1e-7
DRAWER_DEPTH = 0.12
DRAWER_WIDTH = 0.14
BLOCKER_KG = 1.0
OOD_JITTER = (1.5, 2.5)  # 'ood' arm offset per axis, in multiples of START_JITTER (demos: <= 1)
OOD_DOOR_AJAR = (0.12, 0.25)  # 'ood' OpenDoor: the door starts ajar (rad; demos: 0-0.03)


def _drawer_urdf() -> str:
    """Cabinet (open front, base at origin = front-face centre on the table) + sliding drawer."""
    wood, front = (0.35, 0.22, 0.12, 1.0), (0.95, 0.9, 0.8, 1.0)
    d, w, h = DRAWER_DEPTH + 0.02, DRAWER_WIDTH + 0.02, 0.085
    cab = [Part('box', (d / 2, w / 2 + 0.01, 0.005), (d / 2, 0, h + 0.005), wood),  # top
           Part('box', (d / 2, 0.005, h / 2), (d / 2, w / 2 + 0.005, h / 2), wood),
           Part('box', (d / 2, 0.005, h / 2), (d / 2, -w / 2 - 0.005, h / 2), wood),
           Part('box', (0.005, w / 2, h / 2), (d + 0.005, 0, h / 2), wood)]
    dd, dw = DRAWER_DEPTH / 2, DRAWER_WIDTH / 2
    drawer = open_box((DRAWER_DEPTH - 0.01, DRAWER_WIDTH - 0.01), 0.045, 0.005, front)
    drawer = [Part(p.kind, p.size, (p.xyz[0] + dd, p.xyz[1], p.xyz[2] + 0.005), p.rgba)
              for p in drawer]
    drawer[2] = Part('box', (0.005, dw, 0.035), (0.0025, 0, 0.04), front)  # taller front plate
    black = (0.1, 0.1, 0.1, 1.0)
    drawer += [Part('box', (0.005, 0.05, 0.006), (-0.04, 0, 0.06), black),  # handle bar
               Part('box', (0.0175, 0.005, 0.006), (-0.0175, 0.045, 0.06), black),
               Part('box', (0.0175, 0.005, 0.006), (-0.0175, -0.045, 0.06), black)]
    return str(urdf('drawer', cab, 0.0, drawer, 0.3, 'prismatic', (-1, 0, 0), (0, 0, 0.0),
                    (0.0, T.DRAWER_MAX)))


def _door_urdf() -> str:
    """Microwave: a box open at the front; hinge at its front-left edge (base origin)."""
    body, door = (0.55, 0.1, 0.1, 1.0), (0.95, 0.95, 0.95, 1.0)
    d, w, h = 0.16, T.DOOR_WIDTH, 0.16
    cab = [Part('box', (d / 2, w / 2, 0.005), (d / 2, -w / 2, h), body),
           Part('box', (d / 2, w / 2, 0.01), (d / 2, -w / 2, 0.01), body),
           Part('box', (d / 2, 0.005, h / 2), (d / 2, -0.005, h / 2), body),
           Part('box', (d / 2, 0.005, h / 2), (d / 2, -w + 0.005, h / 2), body),
           Part('box', (0.005, w / 2, h / 2), (d, -w / 2, h / 2), body)]
    black = (0.05, 0.05, 0.05, 1.0)
    leaf = [Part('box', (0.005, w / 2 - 0.005, h / 2 - 0.005), (-0.006, -w / 2, h / 2), door),
            Part('box', (0.005, 0.035, 0.006), (-0.055, -w + 0.05, 0.10), black),
            Part('box', (0.02, 0.005, 0.006), (-0.03, -w + 0.085, 0.10), black),
            Part('box', (0.02, 0.005, 0.006), (-0.03, -w + 0.015, 0.10), black)]
    return str(urdf('microwave', cab, 0.0, leaf, 0.3, 'revolute', (0, 0, -1), (0, 0, 0),
                    (0.0, T.DOOR_MAX)))


class World:
    """Builds the scene of `task` in its own DIRECT client."""

    def __init__(self, task: T.Task) -> None:
        self.task = task
        self.start_kind = 'demo'  # of the last reset: 'demo' or 'ood'
        self.kitchen = T.KITCHENS[task.kitchen]
        self.client = pb.connect(pb.DIRECT)
        c = self.client
        pb.setGravity(0, 0, -9.81, physicsClientId=c)
        pb.setTimeStep(1.0 / PHYSICS_HZ, physicsClientId=c)
        pb.setPhysicsEngineParameter(numSolverIterations=SOLVER_ITERATIONS,
                                     solverResidualThreshold=SOLVER_RESIDUAL,
                                     deterministicOverlappingPairs=1, physicsClientId=c)
        table = urdf('table', [Part('box', (0.45, 0.5, 0.02), (0.3, 0.0, -0.02),
                                    self.kitchen.table_rgba)])
        self.table = pb.loadURDF(str(table), useFixedBase=True, physicsClientId=c)
        self.arm = Arm(c)
        self.objects: dict[str, int] = {}  # created fresh by every reset (see _spawn_objects)
        self._object_urdfs = {
            name: str(urdf(name, [Part(spec.kind, spec.size, (0, 0, 0), spec.rgba)],
                           base_mass=0.04))
            for name, spec in self.kitchen.objects.items() if name in T.present_objects(task)}
        for name, box in self.kitchen.containers.items():
            path = urdf(name, open_box(box.inner, box.height, 0.008, box.rgba))
            pb.loadURDF(str(path), (*box.xy, 0.0), useFixedBase=True, physicsClientId=c)
        self.fixture = None
        if self.kitchen.fixture == 'drawer':
            self.fixture = pb.loadURDF(_drawer_urdf(), (T.DRAWER_FRONT_X, T.DRAWER_Y, 0.0),
                                       useFixedBase=True, physicsClientId=c)
        elif self.kitchen.fixture == 'door':
            self.fixture = pb.loadURDF(_door_urdf(), (*T.DOOR_HINGE, 0.0), useFixedBase=True,
                                       physicsClientId=c)
        if self.fixture is not None:  # joint friction: the fixture stays where it is left
            pb.setJointMotorControl2(self.fixture, 0, pb.VELOCITY_CONTROL, targetVelocity=0,
                                     force=0.6 if self.kitchen.fixture == 'drawer' else 0.08,
                                     physicsClientId=c)
        self.arm.reset()
        self._snapshot = pb.saveState(physicsClientId=c)

    # -- reset -------------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, starts: str = 'demo') -> None:
        """Restore the built state, then sample the task's start (objects, fixture joint).

        `starts` (START_MODES): 'demo' draws where the scripted demos start; 'ood' outside
        that range (PTR section VI-C's online starts): the arm displaced 1.5-2.5x its demo
        jitter on every axis (upwards in z) and a door left ajar; 'mixed' picks one of the
        two per episode (the paper's 5 of 10). 'demo' draws exactly what it drew before the
        option existed.
        """
        if starts not in START_MODES:
            raise ValueError(f'starts: expected one of {list(START_MODES)}, got {starts!r}')
        ood = starts == 'ood' or (starts == 'mixed' and bool(rng.random() < 0.5))
        self.start_kind = 'ood' if ood else 'demo'
        c = self.client
        for body in self.objects.values():
            pb.removeBody(body, physicsClientId=c)
        pb.restoreState(self._snapshot, physicsClientId=c)
        self._spawn_objects()
        placed: list[np.ndarray] = []
        for name, body in self.objects.items():
            spec = self.kitchen.objects[name]
            if name == 'drawer_cube' or name == 'blocker':
                continue
            for _ in range(100):
                xy = rng.uniform(self.kitchen.spawn_low, self.kitchen.spawn_high)
                if all(np.linalg.norm(xy - p) > 0.06 for p in placed):
                    break
            placed.append(xy)
            yaw = rng.uniform(-0.6, 0.6)
            self._place(body, (xy[0], xy[1], spec.half_height + 0.001), yaw)
        self._reset_fixture(rng, ood)
        # The arm starts anywhere near home (drawn last: the scene draws above are unchanged).
        self.arm.reset(xyz=self._arm_start(rng, ood))
        for _ in range(10):  # let things settle under gravity
            pb.stepSimulation(physicsClientId=c)
        # Resting objects would stay awake for Bullet's 2 s timeout, costing more than the whole
        # arm; put them to sleep now (deterministically). Contact wakes them up.
        for body in self.objects.values():
            pb.changeDynamics(body, -1, activationState=pb.ACTIVATION_STATE_SLEEP,
                              physicsClientId=c)

    def _reset_fixture(self, rng: np.random.Generator, ood: bool) -> None:
        """The drawer (its opening, the cube in it, the blocker) or the door's angle."""
        c = self.client
        if self.kitchen.fixture == 'drawer':
            start = self.task.drawer_start
            q = (rng.uniform(0.10, T.DRAWER_MAX) if start == 'open'
                 else rng.uniform(0.0, 0.005))
            pb.resetJointState(self.fixture, 0, q, physicsClientId=c)
            # The cube sits in the drawer (drawer floor at z=0.01); jitter inside it.
            cube = self.kitchen.objects['drawer_cube']
            dx, dy = rng.uniform(-0.015, 0.015), rng.uniform(-0.03, 0.03)
            self._place(self.objects['drawer_cube'],
                        (T.DRAWER_FRONT_X - q + DRAWER_DEPTH / 2 + dx, T.DRAWER_Y + dy,
                         0.011 + cube.half_height), rng.uniform(-0.4, 0.4))
            blocker = self.kitchen.objects['blocker']
            if start == 'blocked':  # right in front of the drawer: it cannot slide out
                pos = (T.DRAWER_FRONT_X - 0.078 + rng.uniform(-0.004, 0.004),
                       T.DRAWER_Y + rng.uniform(-0.02, 0.02), blocker.half_height + 0.001)
            else:  # parked out of the way
                pos = (0.24, -0.03, blocker.half_height + 0.001)
            self._place(self.objects['blocker'], pos, rng.uniform(-0.3, 0.3))
        if self.kitchen.fixture == 'door':
            closing = self.task.kind == 'close_door'
            q = rng.uniform(1.1, 1.45) if closing else rng.uniform(0.0, 0.03)
            if ood and not closing:
                q = rng.uniform(*OOD_DOOR_AJAR)
            pb.resetJointState(self.fixture, 0, q, physicsClientId=c)

    @staticmethod
    def _arm_start(rng: np.random.Generator, ood: bool) -> np.ndarray:
        """Within the demos' jitter of home, or (ood) 1.5-2.5x it on every axis."""
        if not ood:
            return HOME_XYZ + rng.uniform(-1.0, 1.0, 3) * START_JITTER
        # x and y either way; always higher: lower, the arm could start inside the door
        sign = np.append(np.where(rng.random(2) < 0.5, -1.0, 1.0), 1.0)
        return HOME_XYZ + sign * rng.uniform(*OOD_JITTER, 3) * START_JITTER

    def _spawn_objects(self) -> None:
        """Create the movable objects anew.

        Why not keep them across episodes: Bullet keeps per-object sleep timers and contact
        caches that restoreState does not reset, so an episode would depend on the previous one.
        Fresh bodies, created in the same order every time, make every reset identical.
        """
        c = self.client
        self.objects = {}
        for i, (name, path) in enumerate(self._object_urdfs.items()):
            body = pb.loadURDF(path, (-0.4, 0.3 * i, 0.3), physicsClientId=c)
            # Sleeping: an object at rest costs nothing until something touches it.
            pb.changeDynamics(body, -1, lateralFriction=1.2, spinningFriction=0.002,
                              rollingFriction=0.0005,
                              activationState=pb.ACTIVATION_STATE_ENABLE_SLEEPING,
                              physicsClientId=c)
            if name == 'blocker':  # heavy and grippy: the drawer cannot bulldoze it aside
                pb.changeDynamics(body, -1, mass=BLOCKER_KG, lateralFriction=8.0,
                                  physicsClientId=c)
            self.objects[name] = body

    def _place(self, body: int, pos, yaw: float) -> None:
        pb.resetBasePositionAndOrientation(body, pos, pb.getQuaternionFromEuler([0, 0, yaw]),
                                           physicsClientId=self.client)
        pb.resetBaseVelocity(body, (0, 0, 0), (0, 0, 0), physicsClientId=self.client)

    # -- stepping and state ---------------------------------------------------------------------
    def step(self, action: np.ndarray, substeps: int) -> None:
        self.arm.apply(action)
        for _ in range(substeps):
            pb.stepSimulation(physicsClientId=self.client)

    def privileged(self) -> T.Privileged:
        c = self.client
        objs = {n: np.array(pb.getBasePositionAndOrientation(b, physicsClientId=c)[0])
                for n, b in self.objects.items()}
        ee, _ = self.arm.ee_pose()
        s = T.Privileged(objects=objs, ee=ee, gripper=self.arm.gripper_opening())
        if self.kitchen.fixture == 'drawer':
            s.drawer = float(pb.getJointState(self.fixture, 0, physicsClientId=c)[0])
        elif self.kitchen.fixture == 'door':
            s.door = float(pb.getJointState(self.fixture, 0, physicsClientId=c)[0])
        return s

    def close(self) -> None:
        if self.client is not None and pb.isConnected(self.client):
            pb.disconnect(self.client)
        self.client = None
