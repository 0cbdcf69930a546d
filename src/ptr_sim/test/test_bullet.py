"""pybullet loads without its `pybullet build time: ...` banner, and nothing else is swallowed."""
import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120)


def test_importing_the_sim_prints_nothing_but_what_we_print():
    out = _run("import sys; print('before'); print('err before', file=sys.stderr)\n"
               "import ptr_sim, pybullet, ptr_sim.scene\n"
               "print('after'); print('err after', file=sys.stderr)")
    assert out.returncode == 0, out.stderr
    assert out.stdout == 'before\nafter\n' and out.stderr == 'err before\nerr after\n'


def test_the_banner_is_real_where_pybullet_is_imported_directly():
    """The premise: without ptr_sim.bullet the C module does print it."""
    out = _run('import pybullet')
    assert 'pybullet build time' in out.stdout + out.stderr
