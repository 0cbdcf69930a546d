"""rosbag2 recordings of the topic contract -> Trajectories (and our dataset format).

Reads MCAP or sqlite3 rosbag2 folders with the `rosbags` library (no ROS install needed) and
aligns three streams recorded at different rates into control steps:

All timing uses bag receive times (so any sender clock works); header stamps and the stamp tags
of ptr_core.rosmsg.tag_stamp only identify which image an action or state belongs to.
- `robot/action` (Float32MultiArray, normalized) defines the steps: one transition per action.
- `camera/image_raw` (sensor_msgs/Image) gives s_t: the image whose header stamp the action's
  tag names, else the latest image received at or before the action. The next observation of
  step t is step t+1's observation; for an episode's last action it is the latest image within
  one control period after it (the moment the next action would have been computed).
- `robot/state` (Float32MultiArray, 7): the state tagged with the observation's stamp, else the
  latest state received at or before the observation.
- `ptr/reward` (std_msgs/Float32, optional): r_t = max reward received in (t, t+1]; the first
  step with r_t > 0.5 is a success and ends the episode (terminal), as the sim's
  terminate_on_success does.
A pause between actions longer than `gap_periods` control periods starts a new episode (a bag
may hold several episodes with resets in between). Images are decoded in a second pass, only
the frames used, so a 30 Hz camera costs no memory for the frames between control steps.
Every action that does not become a transition is counted under its reason (DROP_REASONS), and
the converter reports the counts per bag: a demonstration that lost steps says so.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ptr_core.constants import ACTION_DIM, CONTROL_HZ, STATE_DIM
from ptr_core.data.bag_drops import (  # noqa: F401 (the reasons are part of this API)
    AFTER_SUCCESS,
    DROP_REASONS,
    NO_IMAGE,
    NO_NEXT_IMAGE,
    NO_STATE,
    SHORT_EPISODE,
    Drops,
)
from ptr_core.data.trajectory import Trajectory
from ptr_core.rosmsg import image_to_numpy, stamp_tag, stamp_to_ns, vector_from_msg


class BagError(ValueError):
    """A bag is unreadable or lacks a topic the conversion needs (the message names both)."""


@dataclass
class BagConfig:
    """Topic names (matched exactly or as a namespace suffix) and alignment settings."""

    image_topic: str = 'camera/image_raw'
    state_topic: str = 'robot/state'
    action_topic: str = 'robot/action'
    reward_topic: str | None = 'ptr/reward'
    """Optional: without it rewards are 0 and success comes from `success`."""
    control_hz: float = CONTROL_HZ
    gap_periods: float = 2.5
    """A pause longer than this many control periods between actions starts a new episode."""
    min_length: int = 2
    """Episodes with fewer transitions are dropped."""
    image_size: int | None = None
    """Resize images to this square size (None: keep)."""
    success: bool | None = None
    """Success flag of every episode; None: from the reward topic (False without one)."""
    meta: dict = field(default_factory=dict)
    single_episode: bool = False
    """The bag holds one episode (a teleop recording): a gap in it is an error, not a cut."""


@dataclass
class _Stream:
    times: np.ndarray  # int64 bag receive time, ns, sorted
    keys: np.ndarray  # int64: image header stamp / state or action tag (ns), -1 when none
    values: list


def _match_topic(available: Sequence[str], name: str, bag: Path, required: bool) -> str | None:
    want = name.strip('/')
    hits = [t for t in available if t.strip('/') == want or t.endswith('/' + want)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise BagError(f'{bag}: topic {name!r}: several matches {hits}; pass the full name')
    if required:
        raise BagError(f'{bag}: topic {name!r}: not recorded; the bag has {sorted(available)}')
    return None


def _sorted(times: list[int], keys: list[int], values: list) -> _Stream:
    order = np.argsort(np.asarray(times, np.int64), kind='stable')
    return _Stream(np.asarray(times, np.int64)[order], np.asarray(keys, np.int64)[order],
                   [values[i] for i in order])


def _open(bag: Path):
    from rosbags.highlevel import AnyReader

    try:
        reader = AnyReader([bag])
        reader.open()
    except Exception as e:  # noqa: BLE001 - rosbags raises several unrelated types
        raise BagError(f'{bag}: unreadable rosbag2 ({type(e).__name__}: {e})') from None
    return reader


def _read(bag: Path, cfg: BagConfig) -> tuple[dict[str, _Stream], str]:
    """Sorted streams (image values: bag-order ordinals) and the image topic's full name."""
    reader = _open(bag)
    try:
        topics = [c.topic for c in reader.connections]
        names = {
            'image': _match_topic(topics, cfg.image_topic, bag, True),
            'state': _match_topic(topics, cfg.state_topic, bag, True),
            'action': _match_topic(topics, cfg.action_topic, bag, True),
            'reward': (_match_topic(topics, cfg.reward_topic, bag, False)
                       if cfg.reward_topic else None)}
        by_topic = {v: k for k, v in names.items() if v is not None}
        conns = [c for c in reader.connections if c.topic in by_topic]
        raw: dict[str, tuple[list, list, list]] = {k: ([], [], []) for k in names}
        for conn, t_ns, data in reader.messages(connections=conns):
            kind = by_topic[conn.topic]
            msg = reader.deserialize(data, conn.msgtype)
            times, keys, values = raw[kind]
            times.append(t_ns)
            if kind == 'image':
                keys.append(stamp_to_ns(msg.header.stamp))
                values.append(len(values))  # bag-order ordinal; decoded in a second pass
            elif kind == 'reward':
                keys.append(-1)
                values.append(float(msg.data))
            else:
                try:
                    values.append(vector_from_msg(msg, STATE_DIM if kind == 'state'
                                                  else ACTION_DIM, kind))
                except ValueError as e:
                    raise BagError(f'{bag}: {conn.topic} message at {t_ns} ns: {e}') from None
                tag = stamp_tag(msg)
                keys.append(-1 if tag is None else tag)
    finally:
        reader.close()
    return {k: _sorted(*v) for k, v in raw.items()}, names['image']


def _decode_images(bag: Path, topic: str, wanted: set[int], size: int | None
                   ) -> dict[int, np.ndarray]:
    """Second pass: decode (rgb8) and resize only the image messages with these ordinals."""
    reader = _open(bag)
    out: dict[int, np.ndarray] = {}
    try:
        conns = [c for c in reader.connections if c.topic == topic]
        for k, (conn, t_ns, data) in enumerate(reader.messages(connections=conns)):
            if k in wanted:
                msg = reader.deserialize(data, conn.msgtype)
                try:
                    out[k] = _resize(image_to_numpy(msg, 'rgb8'), size)
                except ValueError as e:
                    raise BagError(f'{bag}: {topic} message at {t_ns} ns: {e}') from None
    finally:
        reader.close()
    return out


def _latest_at_or_before(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the latest time <= t (-1 if none), vectorised."""
    return np.searchsorted(times, t, side='right') - 1


@dataclass
class _Episode:
    actions: np.ndarray  # (T, 7)
    frames: np.ndarray  # (T+1,) indices into the image stream
    states: np.ndarray  # (T+1, 7)
    rewards: np.ndarray  # (T,)
    terminals: np.ndarray  # (T,)
    success: bool
    start_ns: int


def align(streams: dict[str, _Stream], cfg: BagConfig, drops: Drops | None = None
          ) -> list[_Episode]:
    """Cut aligned episodes out of the sorted streams (see the module docstring).

    All timing uses bag receive times, so it holds whatever clock the senders stamp with;
    stamps and tags are used only as identities (which image an action or state belongs to).
    Each action left out is counted in `drops` under its reason (one of DROP_REASONS).
    """
    drops = Drops() if drops is None else drops
    img, st, act, rew = streams['image'], streams['state'], streams['action'], streams['reward']
    drops.actions += len(act.times)
    if not len(act.times) or not len(img.times) or not len(st.times):
        if len(act.times):
            drops.add(NO_IMAGE if not len(img.times) else NO_STATE, len(act.times))
        return []
    period = int(round(1e9 / cfg.control_hz))
    # Observation of each action: the image its tag names, else the latest received before it.
    obs = _latest_at_or_before(img.times, act.times)
    by_stamp = {int(k): i for i, k in enumerate(img.keys) if k > 0}
    obs = np.array([by_stamp.get(int(k), o) if k >= 0 else o for k, o in zip(act.keys, obs)],
                   np.int64)
    keep = obs >= 0
    drops.add(NO_IMAGE, int((~keep).sum()))
    a_times, obs = act.times[keep], obs[keep]
    if not len(a_times):
        return []
    a_vals = np.stack(act.values)[keep]
    state_vals = np.stack(st.values)
    state_by_tag = {int(k): i for i, k in enumerate(st.keys) if k >= 0}
    r_vals = np.asarray(rew.values, np.float32)
    breaks = _episode_breaks(a_times, cfg, period)
    out = []
    for seg in np.split(np.arange(len(a_times)), breaks):
        seg, last = _trim_to_next_image(seg, img, a_times, obs, period, drops)
        if not len(seg):
            continue
        frames = np.append(obs[seg], last)
        s_idx = _states_of(frames, img, st, state_by_tag)
        first = int(np.argmax(s_idx >= 0)) if (s_idx >= 0).any() else len(s_idx)
        drops.add(NO_STATE, len(seg) - len(seg[first:]))
        seg, frames, s_idx = seg[first:], frames[first:], s_idx[first:]  # no state yet: skip
        if len(seg) < max(1, cfg.min_length):
            drops.add(SHORT_EPISODE, len(seg))
            continue
        rewards = _segment_rewards(rew.times, r_vals, a_times[seg], period)
        terminals = np.zeros(len(seg), bool)
        hit = np.flatnonzero(rewards > 0.5)
        if len(hit):
            n = int(hit[0]) + 1  # end the episode at the first success
            drops.add(AFTER_SUCCESS, len(seg) - n)
            seg, frames, s_idx = seg[:n], frames[:n + 1], s_idx[:n + 1]
            rewards, terminals = rewards[:n], terminals[:n]
            terminals[-1] = True
        success = bool(len(hit)) if cfg.success is None else bool(cfg.success)
        out.append(_Episode(np.clip(a_vals[seg], -1.0, 1.0).astype(np.float32), frames,
                            state_vals[s_idx].astype(np.float32), rewards, terminals, success,
                            int(a_times[seg[0]])))
    return out


def _trim_to_next_image(seg: np.ndarray, img: _Stream, a_times: np.ndarray, obs: np.ndarray,
                        period: int, drops: Drops) -> tuple[np.ndarray, int]:
    """S' of the segment's last action: the latest image within one period after it; while no
    newer image exists (the bag ended), that action is dropped and the one before tried."""
    last = -1
    while len(seg):
        last = int(_latest_at_or_before(img.times, a_times[seg[-1:]] + period)[0])
        if last > obs[seg[-1]]:
            break
        seg = seg[:-1]
        drops.add(NO_NEXT_IMAGE, 1)
    return seg, last


def _states_of(frames: np.ndarray, img: _Stream, st: _Stream, state_by_tag: dict[int, int]
               ) -> np.ndarray:
    """State of each observation: the one tagged with its stamp, else the latest before it."""
    s_idx = _latest_at_or_before(st.times, img.times[frames])
    return np.array([state_by_tag.get(int(k), i) for k, i in zip(img.keys[frames], s_idx)],
                    np.int64)


def _episode_breaks(a_times: np.ndarray, cfg: BagConfig, period: int) -> np.ndarray:
    """Where a pause between actions starts a new episode; in a one-episode recording a pause
    is a gap in the data, an error naming the topic and the time."""
    breaks = np.flatnonzero(np.diff(a_times) > cfg.gap_periods * period) + 1
    if cfg.single_episode and len(breaks):
        i = int(breaks[0])
        raise BagError(f'{cfg.action_topic}: gap of {(a_times[i] - a_times[i - 1]) / 1e9:.2f} s '
                       f'in a one-episode recording at t={a_times[i - 1] / 1e9:.3f} s (bag time; '
                       f'at most {cfg.gap_periods:g} control periods allowed)')
    return breaks


def _segment_rewards(r_times: np.ndarray, r_vals: np.ndarray, a_times: np.ndarray,
                     period: int) -> np.ndarray:
    """Reward of each action: the largest reward received after it and up to the next action
    (the last one: up to one period after it); 0 where none arrived."""
    if not len(r_vals):
        return np.zeros(len(a_times), np.float32)
    lo = np.searchsorted(r_times, a_times, side='right')
    hi = np.searchsorted(r_times, np.append(a_times[1:], a_times[-1] + period), side='right')
    return np.array([r_vals[i:j].max() if j > i else 0.0 for i, j in zip(lo, hi)], np.float32)


def _resize(image: np.ndarray, size: int | None) -> np.ndarray:
    from ptr_core.data.bridge import resize

    return resize(image, size)


def bag_custom_data(bag: Path) -> dict[str, str]:
    """metadata.yaml's custom_data (what ptr_teleop's recorder says of the episode), or {}."""
    import yaml
    try:
        info = yaml.safe_load((bag / 'metadata.yaml').read_text())
        return dict(info['rosbag2_bagfile_information'].get('custom_data') or {})
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return {}


def recorded_episode(bag: Path, cfg: BagConfig) -> BagConfig:
    """A teleop recording (one episode, its outcome in the metadata): success from the
    operator's verdict unless given, and a gap inside it is an error."""
    from ptr_core.data.bag_writer import META_NOTES, META_OUTCOME, OUTCOMES
    custom = bag_custom_data(bag)
    outcome = custom.get(META_OUTCOME)
    if outcome not in OUTCOMES:
        return cfg
    success = cfg.success if cfg.success is not None else outcome == 'success'
    meta = cfg.meta | {'outcome': outcome, 'notes': custom.get(META_NOTES, '')}
    return replace(cfg, success=success, single_episode=True, meta=meta)


def bag_to_trajectories(bag: str | Path, task: str, cfg: BagConfig | None = None,
                        drops: Drops | None = None) -> list[Trajectory]:
    """All episodes in one rosbag2 folder (MCAP or sqlite3) as Trajectories; the actions it
    recorded and those left out, by reason, are counted in `drops`."""
    bag = Path(bag)
    if not bag.exists():
        raise BagError(f'{bag}: not found (expected a rosbag2 folder with metadata.yaml)')
    cfg = recorded_episode(bag, cfg or BagConfig())
    streams, image_topic = _read(bag, cfg)
    try:
        episodes = align(streams, cfg, drops)
    except BagError as e:
        raise BagError(f'{bag}: {e}') from None
    ordinal = streams['image'].values
    wanted = {ordinal[i] for ep in episodes for i in ep.frames}
    images = _decode_images(bag, image_topic, wanted, cfg.image_size)
    trajs = []
    for i, ep in enumerate(episodes):
        if cfg.single_episode and ep.success and not ep.terminals.any():
            # the operator's verdict is the reward: +1 on the last step, which ends the episode
            # (what the sim's terminate_on_success writes for a collected success)
            ep.rewards[-1], ep.terminals[-1] = 1.0, True
        trajs.append(Trajectory(
            images=np.stack([images[ordinal[f]] for f in ep.frames]), states=ep.states,
            actions=ep.actions, rewards=ep.rewards, terminals=ep.terminals, task=task,
            success=ep.success, meta=dict(cfg.meta) | {'source': 'rosbag2', 'bag': str(bag),
                                                       'start_ns': ep.start_ns},
        ).validate(f'{bag} episode {i}'))
    return trajs


def convert_bags(bags: Sequence[str | Path], dst: str | Path, task: str,
                 cfg: BagConfig | None = None, progress: bool = True,
                 report: Callable[[str], None] | None = None) -> int:
    """Write every episode of `bags` into our dataset format under dst/<task>; returns count.
    `report` gets each bag's line: its actions, the transitions kept, the drops by reason."""
    from ptr_core.data.dataset import DatasetWriter
    from ptr_core.progress import progress as bar

    n = 0
    with DatasetWriter(dst, shard_episodes=64, prefix='bag') as w:
        for bag in bar(list(bags), desc=f'rosbag2 -> {dst}', unit='bag', disable=not progress):
            drops = Drops()
            trajs = bag_to_trajectories(bag, task, cfg, drops)
            for tr in trajs:
                w.add(tr)
                n += 1
            if report is not None:
                report(drops.line(bag, trajs))
    return n


def main(argv: list[str] | None = None, prog: str = 'ptr convert-bag') -> int:
    """`python -m ptr_core.data.rosbag BAG... --task T --out DST [--image-size N]`."""
    ap = argparse.ArgumentParser(prog=prog,
                                 description='Convert rosbag2 recordings into a ptr dataset.')
    ap.add_argument('bags', nargs='+', help='rosbag2 folders (MCAP or sqlite3)')
    ap.add_argument('--task', required=True, help='task name of the recorded episodes')
    ap.add_argument('--out', required=True, help='dataset root to write')
    ap.add_argument('--image-size', type=int, default=None, help='resize images (square)')
    ap.add_argument('--success', action=argparse.BooleanOptionalAction, default=None,
                    help='mark every episode successful (default: the verdict in a teleop '
                    'recording, else from ptr/reward)')
    args = ap.parse_args(argv)
    cfg = BagConfig(image_size=args.image_size, success=args.success)
    try:
        n = convert_bags(args.bags, args.out, args.task, cfg, report=print)
    except ValueError as e:
        print(f'{prog}: {e}', file=sys.stderr)
        return 1
    print(f'wrote {n} episodes of {args.task} to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
