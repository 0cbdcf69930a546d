"""Progress output: a tqdm bar on a terminal, complete lines (no carriage returns) elsewhere."""
import io

from tqdm import tqdm

from ptr_core.progress import LineProgress, progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_file_gets_periodic_complete_lines():
    out = io.StringIO()
    with progress(total=4, desc='train', unit='step', stream=out, every_s=0.0) as bar:
        assert isinstance(bar, LineProgress)
        bar.update(1)
        bar.set_postfix({'q_data': '1.5'})
        bar.update(3)
    lines = out.getvalue().splitlines()
    assert '\r' not in out.getvalue()
    assert lines[0].startswith('train: 1/4 (25%), ') and 'step/s' in lines[0]
    assert lines[1].startswith('train: 4/4 (100%), ') and lines[1].endswith('q_data=1.5')
    assert len(lines) == 3  # and once more when it closes


def test_lines_are_rate_limited_and_iterables_count_themselves():
    out = io.StringIO()
    seen = list(progress(range(50), desc='eval', stream=out, every_s=3600.0))
    assert seen == list(range(50))
    assert out.getvalue().splitlines() == [out.getvalue().splitlines()[0]]  # only the last
    assert out.getvalue().startswith('eval: 50/50 (100%)')


def test_a_terminal_gets_a_tqdm_bar_and_disable_prints_nothing():
    bar = progress(total=3, stream=Terminal())
    assert isinstance(bar, tqdm)
    bar.close()
    out = io.StringIO()
    quiet = progress(total=3, stream=out, disable=True)
    quiet.update(3)
    quiet.close()
    assert out.getvalue() == ''


def test_what_is_counted_is_named_before_the_count():
    """`ptr eval` printed "eval OpenDrawer: 2/2 (100%)" just above "0/2 successes"."""
    out = io.StringIO()
    list(progress(range(2), desc='eval OpenDrawer', unit='ep', what='episodes', stream=out))
    assert out.getvalue().startswith('eval OpenDrawer: episodes 2/2 (100%), ')
    bar = progress(total=2, desc='eval OpenDrawer', what='episodes', stream=Terminal())
    assert bar.desc == 'eval OpenDrawer: episodes'
    bar.close()
