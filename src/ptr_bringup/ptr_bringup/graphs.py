"""Every ROS graph of the project as plain data: one description, read by two runners.

`launch/<name>.launch.py` turns a Graph into launch_ros actions under `ros2 launch` (on a real ROS
2 install), and `ptr launch <name>` (ptr_bringup.launcher) starts the same NodeSpecs as processes
here, where the `launch` package is not available. Nothing in this module imports launch or rclpy.
"""
from __future__ import annotations

from typing import Any, Callable

from ptr_bringup.from_checkpoint import settle
from ptr_bringup.graph_model import (  # noqa: F401 - re-exported: the graphs' vocabulary
    PATH_NAMES,
    PATH_SUFFIXES,
    Argument,
    Graph,
    GraphError,
    NodeSpec,
    is_path_argument,
)
from ptr_bringup.graph_model import parse_bool as _bool
from ptr_bringup.graph_model import parse_float as _float
from ptr_bringup.graph_model import parse_int as _int
from ptr_core.config import ConfigError
from ptr_core.constants import CLOCK_MODES, START_MODES
from ptr_core.online_config import MODES, OnlineConfig, load_online_config


def _robot(args: dict[str, str], task: str, sim: dict[str, Any] | None = None
           ) -> list[NodeSpec]:
    """The robot side of a graph: the sim bridge (with the graph's sim-only settings `sim`), or
    the arm bridge and the camera node, which serve the same topics."""
    if args['robot'] == 'widowx':
        _require_interbotix()
        ns = args['namespace']
        return [NodeSpec('ptr_arm', 'arm_bridge', 'arm_bridge', ns, {'task': task}),
                NodeSpec('ptr_arm', 'camera_node', 'camera', ns, {
                    'device': args['camera'],
                    'image_size': _int('image_size', args['image_size'])})]
    return [NodeSpec('ptr_sim', 'sim_bridge', 'sim_bridge', args['namespace'], {
        'task': task,
        'image_size': _int('image_size', args['image_size']),
        'clock_mode': args['clock'],
        'seed': _int('seed', args['seed']),
    } | ({'starts': args['starts']} if args.get('starts', 'demo') != 'demo' else {})
      | (sim or {}))]


def _require_interbotix() -> None:
    """robot:=widowx fails at once, in one line saying what to install, without interbotix."""
    from ptr_arm.hardware import InterbotixMissing, require_interbotix
    try:
        require_interbotix()
    except InterbotixMissing as e:
        raise GraphError(str(e)) from None


def _on_time(args: dict[str, str]) -> dict[str, str]:
    """A real arm runs in real time whatever `clock` says (lock-step is the sim's mode)."""
    return args | {'clock': 'realtime'} if args['robot'] == 'widowx' else args


CAMERA_ARGUMENT = Argument('camera', '0', 'robot:=widowx: the camera (OpenCV device index, '
                           '/dev/videoN, or a video file or stream URL)')


def _common_arguments(clock_default: str, greedy_default: str) -> tuple[Argument, ...]:
    return (
        Argument('robot', 'sim', 'which robot: the PyBullet WidowX 250 or the real arm',
                 ('sim', 'widowx')),
        Argument('clock', clock_default, 'sim clock: lockstep (the sim steps when an action '
                 'arrives; fast) or realtime (5 Hz like the arm)', CLOCK_MODES),
        Argument('task', '', "task the policy is run on (a ptr_sim task name; default: the "
                 "policy checkpoint's target task)"),
        Argument('image_size', '', "camera image size in pixels (default: the policy "
                 "checkpoint's network.image_size; another value is refused)"),
        Argument('seed', '0', 'sim seed (episode i uses seed + i; -1: random)'),
        Argument('starts', 'demo', "sim: where episodes start: the demos' range, outside it "
                 '(the arm displaced 1.5-2.5x its demo jitter, a door ajar: PTR VI-C), or '
                 'either per episode', START_MODES),
        Argument('namespace', '', 'ROS namespace of every node (several graphs on one domain)'),
        CAMERA_ARGUMENT,
        Argument('weights_key', '', 'HMAC key shared by trainer, policy and episode manager: '
                 'signs weights and inline episodes (empty: $PTR_WEIGHTS_KEY)'),
        Argument('greedy', greedy_default, 'policy acts with the mean action (false: samples '
                 'from the tanh-Gaussian, i.e. explores)', ('true', 'false')),
    )


def _policy(args: dict[str, str], ckpt: str, greedy: bool,
            residual: dict[str, Any] | None = None) -> NodeSpec:
    if not ckpt:
        raise GraphError('argument policy_ckpt: expected a policy checkpoint path, got ""')
    params: dict[str, Any] = {'checkpoint': ckpt, 'clock_mode': args['clock'], 'greedy': greedy,
                              'weights_key': args['weights_key']} | (residual or {})
    if 'exploration_scale' in args:
        params['exploration_scale'] = _float('exploration_scale', args['exploration_scale'])
    # Respawned if it dies: it holds no state of its own (the checkpoint, then the trainer's
    # newest weights, which are latched); meanwhile the robot holds (the bridge gets no action).
    return NodeSpec('ptr_policy', 'policy_node', 'policy_node', args['namespace'], params,
                    THROUGH_SAFETY, respawn=True)


# Every action source publishes robot/action; in a graph it reaches the robot only through the
# safety filter (workspace box, step limits, watchdog, e-stop), which publishes robot/action.
THROUGH_SAFETY = (('robot/action', 'safety/action_in'),)


def _safety(args: dict[str, str], residual_bound: float = 0.0) -> NodeSpec:
    params: dict[str, Any] = {'clock_mode': args['clock']}
    if residual_bound > 0:
        params['residual_bound'] = residual_bound
    return NodeSpec('ptr_safety', 'safety_node', 'safety_filter', args['namespace'], params)


# Trainer settings a graph argument may set. Empty (the default) leaves the setting to the
# online_config YAML, else to OnlineConfig: the defaults live there alone.
_ONLINE = OnlineConfig()
ONLINE_SETTING_ARGUMENTS = (
    Argument('online_mode', '', "how the trainer learns: 'calql' fine-tunes actor and critic "
             "(PTR V-F); 'residual' keeps the offline policy frozen and learns a bounded "
             'correction, the critic ranking sampled actions on the policy node (default '
             f'{_ONLINE.mode})', ('',) + MODES),
    Argument('residual_bound', '', 'online_mode:=residual: largest correction per normalized '
             'action dimension; the policy node and the safety filter enforce it too (default '
             f'{_ONLINE.residual_bound:g})'),
    Argument('utd', '', f'gradient updates per environment step (default {_ONLINE.utd:g})'),
    Argument('publish_every', '', 'updates between two published weights versions '
             f'(default {_ONLINE.publish_every})'),
    Argument('batch_size', '', f'transitions per trainer update (default {_ONLINE.batch_size})'),
    Argument('beta', '', 'prior,demos,online fractions of each trainer batch (default '
             f'{",".join(f"{x:g}" for x in _ONLINE.beta)})'),
    Argument('cql_alpha', '', f'CQL alpha online (default {_ONLINE.cql_alpha:g})'),
    Argument('calql', '', 'bound the CQL term by the MC return, Cal-QL (default '
             f'{str(_ONLINE.calql).lower()})', ('', 'true', 'false')),
)


def _online_settings(args: dict[str, str]) -> dict[str, Any]:
    """The trainer parameters of the online-setting arguments that were given."""
    parse: dict[str, Callable[[str], Any]] = {
        'utd': lambda v: _float('utd', v), 'publish_every': lambda v: _int('publish_every', v),
        'batch_size': lambda v: _int('batch_size', v), 'beta': _beta,
        'cql_alpha': lambda v: _float('cql_alpha', v), 'calql': _bool,
        'online_mode': str, 'residual_bound': lambda v: _float('residual_bound', v)}
    out = {name: parse[name](args[name]) for name in parse if args[name].strip()}
    if 'online_mode' in out:  # the trainer's parameter is OnlineConfig's field name
        out['mode'] = out.pop('online_mode')
    return out


def _residual(args: dict[str, str]) -> tuple[dict[str, Any], float]:
    """The policy node's residual parameters and the safety filter's bound when the trainer runs
    the residual mode (the arguments, then the online_config YAML, then OnlineConfig decide, as
    for the trainer); else ({}, 0)."""
    given = {k: v for k, v in _online_settings(args).items()
             if k in ('mode', 'residual_bound')}
    try:
        cfg = load_online_config(args['online_config'] or None, given)
    except ConfigError as e:
        raise GraphError(str(e)) from None
    if cfg.mode != 'residual':
        return {}, 0.0
    return ({'residual_bound': cfg.residual_bound, 'residual_samples': cfg.residual_samples},
            cfg.residual_bound)


def _beta(value: str) -> list[float]:
    parts = [p for p in value.replace('[', '').replace(']', '').split(',') if p.strip()]
    if len(parts) != 3:
        raise GraphError(f'argument beta: expected three fractions prior,demos,online, '
                         f'got {value!r}')
    return [_float('beta', p) for p in parts]


# What the trainer learns from, shared by the online graph and the trainer-only graph.
TRAINER_DATA_ARGUMENTS = (
    Argument('prior_data', '', 'prior dataset root (beta mixing)'),
    Argument('target_data', '', 'target demos dataset root'),
    Argument('run_dir', 'runs/online', 'folder for the online buffer, episodes and checkpoints'),
    *ONLINE_SETTING_ARGUMENTS,
    Argument('online_config', '', 'YAML of trainer settings (ptr_core.online_config.OnlineConfig: '
             'learning rates, warm-up, ramp, guard, ...); the arguments above win'),
)


# -- online fine-tuning (PTR V-F) ---------------------------------------------------------------

ONLINE_ARGUMENTS = _common_arguments('lockstep', 'false') + (
    Argument('policy_ckpt', None, 'fine-tuned agent or policy checkpoint the policy node starts '
             'from (ptr finetune)'),
    Argument('agent_ckpt', '', 'agent checkpoint the trainer continues (default: policy_ckpt)'),
    Argument('reward_ckpt', None, 'success classifier checkpoint (ptr train-reward)'),
    Argument('reset_ckpt', '', 'reset policy checkpoint (CloseDoor); empty: no reset node, '
             'robot/reset alone restores the scene (sim only)'),
    Argument('reset_classifier_ckpt', '', 'classifier deciding "reset reached" '
             '(default: reward_ckpt, reset when P(success) is low)'),
    *TRAINER_DATA_ARGUMENTS,
    Argument('reward_threshold', '-1', 'P(success) above which the classifier says success '
             "(-1: the checkpoint's calibrated threshold)"),
    Argument('exploration_scale', '0.5', 'sampled actions use std x this (1: the learned std; '
             '0.5 keeps exploration near the demos, measured in issue 7)'),
    Argument('horizon', '0', 'max steps per episode (0: the task horizon)'),
    Argument('episodes', '0', 'stop after this many episodes (0: run until stopped)'),
    Argument('transfer', 'file', 'how episodes reach the trainer: the manager writes into the '
             "trainer's buffer folder (shared disk) or sends signed packets on ptr/episode_data "
             '(trainer on another machine)', ('file', 'inline')),
    Argument('trainer', 'true', 'run the trainer in this graph (false: it runs elsewhere)',
             ('true', 'false')),
)


def _online(args: dict[str, str]) -> list[NodeSpec]:
    args = settle(_on_time(args), 'policy_ckpt')
    task, ns = args['task'], args['namespace']
    run_dir = args['run_dir'].rstrip('/')
    # Episodes end on the classifier or the horizon, as on the arm: a sim-only end at success
    # would store a success the classifier missed as a failure.
    extra: dict[str, Any] = {'terminate_on_success': False}
    if args['clock'] == 'lockstep':  # every step waits for its reward label: none goes missing
        extra['wait_for_reward'] = True
    residual, bound = _residual(args)
    nodes = [*_robot(args, task, extra), _safety(args, bound),
             _policy(args, args['policy_ckpt'], _bool(args['greedy']), residual)]
    if not args['reward_ckpt']:
        raise GraphError('argument reward_ckpt: expected a classifier checkpoint path, got ""')
    # Respawned if it dies (stateless, like the policy): until it is back no observation is
    # labeled, so episodes pause (lock-step: the bridge waits for each label) or end at their
    # last labeled step (real time) instead of being stored with unlabeled steps.
    nodes.append(NodeSpec('ptr_reward', 'reward_node', 'reward_node', ns, {
        'classifier_ckpt': args['reward_ckpt'],
        'threshold': _float('reward_threshold', args['reward_threshold']),
    }, respawn=True))
    use_reset = bool(args['reset_ckpt'])
    if use_reset:
        reset_params: dict[str, Any] = {'policy_ckpt': args['reset_ckpt'],
                                        'classifier_ckpt': args['reset_classifier_ckpt']
                                        or args['reward_ckpt']}
        if args['reset_classifier_ckpt']:
            reset_params['reset_when'] = 'above'
        nodes.append(NodeSpec('ptr_reset', 'reset_node', 'reset_node', ns, reset_params,
                              THROUGH_SAFETY))
    elif args['robot'] != 'sim':
        raise GraphError('argument reset_ckpt: a real robot needs a reset policy, got ""')
    nodes.append(NodeSpec('ptr_episodes', 'episode_manager', 'episode_manager', ns, {
        'task': task,
        'episode_dir': f'{run_dir}/episodes',
        'transfer': args['transfer'],
        'weights_key': args['weights_key'],
        'horizon': _int('horizon', args['horizon']),
        'max_episodes': _int('episodes', args['episodes']),
        'clock_mode': args['clock'],
        'use_reset_node': use_reset,
        'require_ready': 'policy,classifier' + (',reset' if use_reset else ''),
    }))
    if _bool(args['trainer']):
        nodes.append(_trainer(args, args['agent_ckpt'] or args['policy_ckpt']))
    return nodes


def _trainer(args: dict[str, str], agent_ckpt: str) -> NodeSpec:
    if not agent_ckpt:
        raise GraphError('argument agent_ckpt: expected an agent checkpoint path, got ""')
    run_dir = args['run_dir'].rstrip('/')
    return NodeSpec('ptr_trainer', 'trainer_node', 'trainer_node', args['namespace'], {
        'agent_ckpt': agent_ckpt,
        'prior_data': args['prior_data'],
        'target_data': args['target_data'],
        'target_task': args['task'],
        # One copy of each episode: on a shared disk the manager writes into the trainer's buffer.
        'online_dir': f'{run_dir}/{"episodes" if args.get("transfer") == "file" else "buffer"}',
        'checkpoint_dir': f'{run_dir}/checkpoints',
        'weights_key': args['weights_key'],
        'telemetry_dir': f'{run_dir}/telemetry',
        'online_config': args['online_config'],
        **_online_settings(args),
    })


# -- the trainer alone, on another machine (online_finetune trainer:=false transfer:=inline) ----

TRAINER_ARGUMENTS = (
    Argument('task', 'OpenDoor', 'target task being fine-tuned'),
    Argument('namespace', '', 'ROS namespace (the same as the robot graph)'),
    Argument('weights_key', '', 'HMAC key shared with the policy node (empty: $PTR_WEIGHTS_KEY)'),
    Argument('agent_ckpt', None, 'fine-tuned agent checkpoint to continue online'),
    *TRAINER_DATA_ARGUMENTS,
)


def _trainer_only(args: dict[str, str]) -> list[NodeSpec]:
    return [_trainer(args, args['agent_ckpt'])]


# -- evaluation: the policy acting in the sim ---------------------------------------------------

EVAL_ARGUMENTS = _common_arguments('realtime', 'true') + (
    Argument('policy_ckpt', None, 'agent or policy checkpoint to run'),
    Argument('reward_ckpt', '', 'optional success classifier: publishes ptr/reward alongside '
             'the privileged sim/success'),
)


def _eval(args: dict[str, str]) -> list[NodeSpec]:
    args = settle(_on_time(args), 'policy_ckpt')
    # no episode manager here: the sim bridge restarts episodes itself and logs the success
    # rate (on the arm a person resets the scene)
    # episodes count once the policy (and the classifier, if any) said it is ready
    ready = 'policy,classifier' if args['reward_ckpt'] else 'policy'
    nodes = [*_robot(args, args['task'], {'auto_reset': True, 'require_ready': ready}),
             _safety(args), _policy(args, args['policy_ckpt'], _bool(args['greedy']))]
    if args['reward_ckpt']:
        nodes.append(NodeSpec('ptr_reward', 'reward_node', 'reward_node', args['namespace'],
                              {'classifier_ckpt': args['reward_ckpt']}, required=False))
    return nodes


# -- teleoperated demonstrations, one bag per episode -------------------------------------------

TELEOP_ARGUMENTS = (
    Argument('robot', 'sim', 'which robot: the PyBullet WidowX 250 or the real arm',
             ('sim', 'widowx')),
    Argument('task', 'OpenDoor', 'task being demonstrated (recorded with every episode)'),
    Argument('out', 'demos', 'folder the bags are written to (one per episode)'),
    Argument('input', 'keyboard', 'motion from the keyboard or a SpaceMouse (pyspacemouse); '
             'episode commands always come from the keys', ('keyboard', 'spacemouse')),
    Argument('notes', '', 'operator notes stored with every episode'),
    Argument('image_size', '64', "camera image size in pixels (the policy's training size)"),
    Argument('seed', '-1', 'sim seed (episode i uses seed + i; -1: random)'),
    Argument('namespace', '', 'ROS namespace of every node'),
    CAMERA_ARGUMENT,
    Argument('teleop', 'true', 'run the teleop node here (false: run `ros2 run ptr_teleop '
             'teleop_node` in its own terminal, e.g. under ros2 launch)', ('true', 'false')),
    Argument('keys_from', '', 'a FIFO or file the teleop node reads keys from instead of the '
             'terminal (scripted operators)'),
)


def _teleop_record(args: dict[str, str]) -> list[NodeSpec]:
    task, ns = args['task'], args['namespace']
    if not args['out']:
        raise GraphError('argument out: expected the folder to record bags into, got ""')
    live = args | {'clock': 'realtime'}  # a person acts at the robot's own pace
    nodes = [*_robot(live, task), _safety(live)]
    if _bool(args['teleop']):
        nodes.append(NodeSpec('ptr_teleop', 'teleop_node', 'teleop', ns, {
            'task': task, 'input': args['input'], 'notes': args['notes'],
            'keys_from': args['keys_from']}, THROUGH_SAFETY, terminal=True))
    nodes.append(NodeSpec('ptr_teleop', 'recorder_node', 'bag_recorder', ns,
                          {'out': args['out']}))
    return nodes


GRAPHS: dict[str, Graph] = {
    'online_finetune': Graph('online_finetune', 'autonomous online fine-tuning (PTR V-F): '
                             'robot, policy, reward classifier, reset policy, episode manager, '
                             'trainer', ONLINE_ARGUMENTS, _online),
    'eval': Graph('eval', 'run a policy checkpoint on the robot (sim or arm)', EVAL_ARGUMENTS,
                  _eval),
    'trainer': Graph('trainer', 'the off-board trainer alone (GPU machine); the robot graph runs '
                     'online_finetune trainer:=false transfer:=inline', TRAINER_ARGUMENTS,
                     _trainer_only),
    'teleop_record': Graph('teleop_record', 'record teleoperated demonstrations, one rosbag2 '
                           '(MCAP) bag per episode: robot, safety filter, teleop, recorder',
                           TELEOP_ARGUMENTS, _teleop_record),
}
