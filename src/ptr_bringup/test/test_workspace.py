"""The workspace is what DESIGN.md s2 says: real ament_python packages whose entry points work."""
from __future__ import annotations

import ast
import importlib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ptr_bringup import cli
from ptr_bringup.rosenv import WORKSPACE

PACKAGES = sorted(p.parent.name for p in (WORKSPACE / 'src').glob('*/package.xml'))
ROS_DEPS = {'rclpy', 'std_msgs', 'sensor_msgs', 'std_srvs', 'rosgraph_msgs', 'geometry_msgs'}


def console_scripts(pkg: str) -> dict[str, str]:
    """Read console_scripts from setup.py without running it."""
    tree = ast.parse((WORKSPACE / 'src' / pkg / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == 'console_scripts':
                    entries = [ast.literal_eval(e) for e in v.elts]
                    return dict(e.replace(' ', '').split('=', 1) for e in entries)
    return {}


@pytest.mark.parametrize('pkg', PACKAGES)
def test_package_xml_is_format_3_ament_python(pkg):
    root = ET.parse(WORKSPACE / 'src' / pkg / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == pkg
    assert root.find('export/build_type').text == 'ament_python'
    deps = {d.text for d in root.findall('exec_depend')}
    assert deps, f'{pkg}: no exec_depend'
    for dep in deps:
        assert dep in PACKAGES or dep in ROS_DEPS or dep.startswith('python3-'), dep
    assert (WORKSPACE / 'src' / pkg / 'resource' / pkg).is_file()


@pytest.mark.parametrize('pkg', PACKAGES)
def test_console_scripts_resolve_and_are_installed(pkg):
    for exe, target in console_scripts(pkg).items():
        module, func = target.split(':')
        assert callable(getattr(importlib.import_module(module), func)), target
        installed = WORKSPACE / 'install' / pkg / 'lib' / pkg / exe
        assert installed.is_file(), f'{installed} missing: colcon build did not install it'


def _imports_of(pkg: str) -> set[str]:
    """The other packages of ours that `pkg`'s non-test modules import."""
    out = set()
    for path in (WORKSPACE / 'src' / pkg / pkg).rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and
                    node.level == 0 else [])
            out |= {m.split('.')[0] for m in mods} & (set(PACKAGES) - {pkg})
    return out


def test_data_flows_one_way_between_packages():
    """Node packages build on ptr_core and ptr_ros only; the one sideways import is a node
    loading another package's model (the reset node checks the scene with the success
    classifier). Only ptr_bringup, which starts graphs, sees them all."""
    nodes = sorted(set(PACKAGES) - {'ptr_core', 'ptr_ros', 'ptr_bringup'})
    assert len(nodes) >= 9
    sideways = {(pkg, dep) for pkg in nodes for dep in _imports_of(pkg) if dep in nodes}
    assert sideways == {('ptr_reset', 'ptr_reward')}
    assert _imports_of('ptr_core') == set()
    assert _imports_of('ptr_ros') == {'ptr_core'}


def test_package_dependencies_match_imports():
    """A package that imports another of ours or a ROS package must declare it (rosdep, colcon)."""
    missing = set()
    for pkg in PACKAGES:
        declared = {d.text for d in ET.parse(WORKSPACE / 'src' / pkg / 'package.xml')
                    .getroot().findall('exec_depend')}
        for path in (WORKSPACE / 'src' / pkg / pkg).rglob('*.py'):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    top = name.split('.')[0]
                    if (top in PACKAGES or top in ROS_DEPS) and top != pkg and \
                            top not in declared:
                        missing.add(f'{pkg} imports {top} ({path.name}) but does not declare it')
    assert not missing, sorted(missing)


def test_core_never_imports_rclpy_or_pybullet():
    for path in (WORKSPACE / 'src' / 'ptr_core' / 'ptr_core').rglob('*.py'):
        src = path.read_text()
        for banned in ('import rclpy', 'from rclpy', 'import pybullet', 'from pybullet'):
            assert banned not in src, f'{path}: {banned}'


def test_every_ptr_command_resolves():
    for name, (target, _) in cli.COMMANDS.items():
        module, func = target.split(':')
        assert callable(getattr(importlib.import_module(module), func)), f'ptr {name}: {target}'


def test_unknown_command_is_one_line_error(capsys):
    assert cli.main(['no-such-command']) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


def test_ptr_runs_from_a_bare_shell():
    """`.venv/bin/ptr` needs nothing sourced: no AMENT_PREFIX_PATH, no venv on PATH."""
    import subprocess
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(Path.home())}
    out = subprocess.run([str(WORKSPACE / '.venv' / 'bin' / 'ptr'), '--help'], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'collect' in out.stdout and 'launch' in out.stdout


def _colcon(ws: Path, out: Path, verb: str, *args: str):
    """Run a colcon verb on workspace `ws` with the venv's python (logs under `out`)."""
    import os
    import subprocess
    import sys
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ.get('PATH', ''))
    return subprocess.run(
        [str(Path(venv_bin, 'colcon')), '--log-base', str(out / 'log'), verb,
         '--base-paths', str(ws / 'src'), '--build-base', str(ws / 'build'),
         '--install-base', str(ws / 'install'), *args],
        cwd=ws, env=env, capture_output=True, text=True, timeout=300)


def _colcon_test(ws: Path, out: Path, pkg: str) -> tuple[int, str, ET.Element]:
    """`colcon test` of one package: its return code, log and JUnit XML test suite."""
    proc = _colcon(ws, out, 'test', '--test-result-base', str(out / 'results'),
                   '--packages-select', pkg, '--return-code-on-test-failure')
    xml = out / 'results' / pkg / 'pytest.xml'
    assert xml.exists(), f'colcon test wrote no JUnit XML (pytest not used?):\n{proc.stdout}'
    root = ET.parse(xml).getroot()  # <testsuites><testsuite tests= failures=...> (pytest)
    suite = root.find('testsuite')
    return proc.returncode, proc.stdout + proc.stderr, root if suite is None else suite


def test_colcon_test_runs_the_pytest_suite(tmp_path):
    """The ROS user's path (`colcon test`) runs pytest, not unittest's zero tests."""
    rc, log, suite = _colcon_test(WORKSPACE, tmp_path, 'ptr_ros')
    n = len(list((WORKSPACE / 'src/ptr_ros/test').glob('test_*.py')))
    assert rc == 0, log
    assert int(suite.get('tests')) >= n > 0 and int(suite.get('failures')) == 0


def test_colcon_test_fails_on_a_failing_test(tmp_path):
    import shutil
    ws = tmp_path / 'ws'
    shutil.copytree(WORKSPACE / 'src/ptr_ros', ws / 'src/ptr_ros',
                    ignore=shutil.ignore_patterns('__pycache__', '*.egg-info'))
    (ws / 'src/ptr_ros/test/test_broken.py').write_text('def test_broken():\n    assert 1 == 2\n')
    shutil.copy(WORKSPACE / 'colcon.meta', ws)
    build = _colcon(ws, tmp_path, 'build', '--packages-select', 'ptr_ros')
    assert build.returncode == 0, build.stdout + build.stderr
    rc, log, suite = _colcon_test(ws, tmp_path, 'ptr_ros')
    assert rc != 0, log
    assert int(suite.get('failures')) == 1


def test_ptr_routes_every_core_command_to_the_same_entry():
    from ptr_core.__main__ import COMMANDS as CORE
    assert {k: cli.COMMANDS[k] for k in CORE} == CORE


def _sources(tests: bool) -> list[Path]:
    """The packages' modules (src/<pkg>/<pkg>/...), or their tests (src/<pkg>/test/...)."""
    parts = [(p, p.relative_to(WORKSPACE / 'src').parts)
             for p in sorted((WORKSPACE / 'src').rglob('*.py'))]
    return [p for p, (pkg, top, *_) in parts if top == ('test' if tests else pkg)]


def test_files_and_functions_stay_small():
    """Small modules with one job: no file in src/ over 400 lines, no function over 60 lines
    outside the tests."""
    long_files = [f'{p}: {n}' for p in _sources(False) + _sources(True)
                  if (n := len(p.read_text().splitlines())) > 400]
    assert long_files == []
    long_functions = [f'{p}:{f.lineno} {f.name}: {f.end_lineno - f.lineno + 1}'
                      for p in _sources(False) for f in ast.walk(ast.parse(p.read_text()))
                      if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and f.end_lineno - f.lineno + 1 > 60]
    assert long_functions == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(WORKSPACE / 'src').with_suffix('').parts[1:])
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def test_no_import_cycle_between_modules():
    """Module-level imports form no cycle (a cycle makes import order matter and breaks lazily
    imported entry points); imports inside functions are not counted."""
    modules = {_module_name(p): p for p in _sources(False)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.parse(path.read_text()).body:  # module level only
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module] + [f'{node.module}.{a.name}' for a in node.names]
                    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                    else [])
            deps |= {m for m in mods if m in modules and m != name}
        graph[name] = deps
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                return path + [name, dep]
            if dep not in state and (cycle := visit(dep, path + [name])):
                return cycle
        state[name] = 2
        return None
    cycles = [c for n in sorted(graph) if n not in state and (c := visit(n, []))]
    assert cycles == []
    assert len(graph) == len(_sources(False)) > 50  # the walk saw every module


def test_no_private_name_is_imported_from_another_module():
    """A leading underscore means 'this module's own': importing one couples two modules
    through a name that may change without notice; make it public instead."""
    ours = {p.name for p in (WORKSPACE / 'src').iterdir() if p.is_dir()}
    found = []
    for path in _sources(False):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                    and node.module.split('.')[0] in ours):
                found += [f'{path}:{node.lineno} {node.module}.{a.name}' for a in node.names
                          if a.name.startswith('_') and not a.name.startswith('__')]
    assert found == []
