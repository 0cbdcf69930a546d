"""A finished table as markdown (95% Wilson intervals, significance) and PNG plots."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ptr_bringup.experiments.table import Table
from ptr_core.stats import bootstrap_mean_diff, fisher_two_sided, holm, spearman
from ptr_sim.evaluate import wilson_interval
from ptr_sim.tasks import TASKS


@dataclass
class Counts:
    """Successes and episodes of one cell, per seed."""

    per_seed: dict[int, tuple[int, int]]  # seed -> (successes, episodes)

    @property
    def k(self) -> int:
        return sum(k for k, _ in self.per_seed.values())

    @property
    def n(self) -> int:
        return sum(n for _, n in self.per_seed.values())

    @property
    def rates(self) -> list[float]:
        return [k / n for k, n in self.per_seed.values() if n]

    def cell(self) -> str:
        if not self.n:
            return 'not run'
        lo, hi = wilson_interval(self.k, self.n)
        return f'{100 * self.k / self.n:.1f}% ({self.k}/{self.n}) [{100 * lo:.1f}, {100 * hi:.1f}]'


def collect_counts(table: Table, results: dict[str, dict[str, Any]], key: str = 'evals'
                   ) -> dict[tuple[str, str], Counts]:
    out = {(r, c): Counts({}) for r in table.rows for c in table.columns}
    for cell in table.cells:
        res = results.get(cell.stage.key)
        if res is None or key not in res:
            continue
        for col, e in res[key].items():
            out[(cell.row, col)].per_seed[cell.seed] = (e['successes'], e['episodes'])
    return out


def significance(table: Table, counts: dict[tuple[str, str], Counts]) -> list[dict[str, Any]]:
    """Each comparison per column: Fisher exact on pooled episodes (Holm over the table) and
    a bootstrap over seeds of the rate difference."""
    rows = []
    for col in table.columns:
        for a, b in table.comparisons:
            ca, cb = counts[(a, col)], counts[(b, col)]
            if not ca.n or not cb.n:
                continue
            # A bootstrap over seeds needs seeds to resample: with one per arm it is a point.
            d, lo, hi = (bootstrap_mean_diff(ca.rates, cb.rates)
                         if min(len(ca.rates), len(cb.rates)) >= 2
                         else (ca.k / ca.n - cb.k / cb.n, float('nan'), float('nan')))
            rows.append({'column': col, 'a': a, 'b': b, 'ka': ca.k, 'na': ca.n, 'kb': cb.k,
                         'nb': cb.n, 'p': fisher_two_sided(ca.k, ca.n, cb.k, cb.n),
                         'diff': d, 'boot_lo': lo, 'boot_hi': hi})
    for r, adj in zip(rows, holm([r['p'] for r in rows])):
        r['p_holm'] = adj
    return rows


def _verdict(r: dict[str, Any]) -> str:
    sig_fisher = r['p_holm'] < 0.05
    sig_boot = r['boot_lo'] > 0 or r['boot_hi'] < 0  # False when NaN (one seed)
    better = r['a'] if r['diff'] > 0 else r['b']
    if sig_fisher and sig_boot:
        return f'yes: {better} higher (both tests)'
    if sig_fisher or sig_boot:
        return f'{better} higher by {"Fisher" if sig_fisher else "seed bootstrap"} only'
    return 'no'


def render(table: Table, results: dict[str, dict[str, Any]], meta: dict[str, Any],
           plots: dict[str, str]) -> str:
    counts = collect_counts(table, results)
    lines = [f'# {table.title}', '', table.claim, '',
             *_provenance(meta), '',
             '## Success rates', '',
             'Pooled over seeds: rate (successes/episodes) [95% Wilson interval]; then the '
             f'per-seed rates. {table.selection}', '']
    head = ['method'] + [f'{c}' for c in table.columns] + [f'per seed ({c})'
                                                          for c in table.columns]
    head += ['paper'] if table.paper else []
    lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in table.rows:
        cells = [counts[(r, c)].cell() for c in table.columns]
        seeds = [', '.join(f'{100 * k / n:.0f}%' for _, (k, n) in
                           sorted(counts[(r, c)].per_seed.items())) or '-'
                 for c in table.columns]
        paper = [table.paper.get(r, '-')] if table.paper else []
        lines.append('| ' + ' | '.join([r] + cells + seeds + paper) + ' |')
    lines += _gate_section(table, counts)
    lines += _partial_section(table, results)
    lines += _starts_section(table, results)
    lines += _reward_section(table, results)
    lines += _selection_section(table, results)
    lines += _selection_quality_section(table, results)
    blocks = [('', counts)]
    last = collect_counts(table, results, 'evals_last')
    if any(c.n for c in last.values()):
        blocks.append((' (last checkpoints)', last))
    for suffix, cts in blocks:
        sig = significance(table, cts)
        if not sig:
            continue
        lines += ['', f'## Which differences are significant{suffix}', '',
                  'Fisher exact test (two-sided) on the pooled episodes, Holm-adjusted over '
                  'every comparison in this block; and a percentile bootstrap over seeds of the '
                  'difference in mean per-seed rate (seeds resampled within each method: it '
                  'counts data and training variance, which pooling episodes does not). With '
                  '3 seeds the bootstrap interval is coarse.', '',
                  '| comparison | setting | counts | Fisher p | Holm p | mean diff [bootstrap '
                  '95%] | significant at 5% |', '|---|---|---|---|---|---|---|']
        for r in sig:
            lines.append(f"| {r['a']} vs {r['b']} | {r['column']} | {r['ka']}/{r['na']} vs "
                         f"{r['kb']}/{r['nb']} | {r['p']:.3g} | {r['p_holm']:.3g} | "
                         f"{100 * r['diff']:+.1f} {_interval(r)} pts | {_verdict(r)} |")
    for title, path in plots.items():
        lines += ['', f'![{title}]({path})']
    if table.row_notes:
        lines += ['', '## What each row is', '']
        lines += [f'- **{r}**: {t}' for r, t in table.row_notes.items()]
    if table.notes:
        lines += ['', '## Setting', '']
        lines += [f'- {n}' for n in table.notes]
    lines += _departures_section(table)
    lines += ['', 'Preset as run (`ptr experiment ... --set KEY=VALUE` changes a field):', '',
              '```yaml', yaml.safe_dump(table.settings, sort_keys=False).rstrip(), '```', '']
    return '\n'.join(lines)


def _selection_section(table: Table, results: dict[str, dict[str, Any]]) -> list[str]:
    """Selected vs last checkpoint per method: what selection on held-out demos gained or lost
    (the last checkpoint is what a fixed step budget would deploy)."""
    last = collect_counts(table, results, 'evals_last')
    if not any(c.n for c in last.values()):
        return []
    sel = collect_counts(table, results)
    out = ['', '## Selected vs last checkpoint', '',
           'The same cells evaluated at the last checkpoint of each run (same starts). The '
           'main table uses the selected one; this shows what selection gained or lost.', '',
           '| method | setting | selected | last | selected step per seed |',
           '|---|---|---|---|---|']
    steps: dict[str, list[str]] = {}
    for cell in table.cells:
        res = results.get(cell.stage.key)
        if res and 'selected_step' in res:
            steps.setdefault(cell.row, []).append(str(res['selected_step']))
    for r in table.rows:
        for c in table.columns:
            if last[(r, c)].n:
                out.append(f'| {r} | {c} | {sel[(r, c)].cell()} | {last[(r, c)].cell()} | '
                           f'{", ".join(steps.get(r, [])) or "-"} |')
    return out


def _gate_section(table: Table, counts: dict[tuple[str, str], Counts]) -> list[str]:
    """Whether the regime can show anything: the gate row must stay below its bound."""
    if table.gate is None:
        return []
    row, bound = table.gate
    c = counts[(row, table.columns[0])]
    if not c.n:
        return ['', f'**Gate**: {row} not run yet (must stay below {100 * bound:.0f}%).']
    lo, hi = wilson_interval(c.k, c.n)
    ok = c.k / c.n < bound
    return ['', f'**Gate**: {row} {100 * c.k / c.n:.1f}% ({c.k}/{c.n}, Wilson '
                f'{100 * lo:.1f}-{100 * hi:.1f}%) must stay below {100 * bound:.0f}%: '
                + ('holds, the regime is not solved by imitation of the demos alone.' if ok
                   else 'FAILS: imitation alone solves this regime; it cannot show what '
                        'pre-training adds.')]


def _reward_section(table: Table, results: dict[str, dict[str, Any]]) -> list[str]:
    """Online rows: how often the reward classifier's success was real (sim, measured only)."""
    acc: dict[str, list[int]] = {}
    for cell in table.cells:
        r = results.get(cell.stage.key) or {}
        if 'online_successes_both' in r:
            a = acc.setdefault(cell.row, [0, 0, 0, 0])
            a[0] += r['online_successes_classifier']
            a[1] += r['online_successes_both']
            a[2] += r['online_successes_sim']
            a[3] += r['episodes']
    if not acc:
        return []
    out = ['', '## The online reward against the sim', '',
           "Every online episode's classifier verdict beside the sim's privileged success "
           '(measured, never trained on), pooled over seeds: precision = real successes among '
           "the classifier's, recall = the sim's successes it found.", '',
           '| method | episodes | classifier successes | real | precision [95% Wilson] | '
           'recall |', '|---|---|---|---|---|---|']
    for row, (said, both, real, n) in acc.items():
        prec = Counts({0: (both, said)}).cell() if said else 'n/a'
        rec = f'{both}/{real} ({100 * both / real:.0f}%)' if real else 'n/a'
        out.append(f'| {row} | {n} | {said} | {both} | {prec} | {rec} |')
    return out


def _starts_section(table: Table, results: dict[str, dict[str, Any]]) -> list[str]:
    """The success table split by where episodes started: inside the demos' range or outside
    it (ptr_sim's 'ood' starts: PTR's online gain came mostly from those)."""
    acc: dict[tuple[str, str], list[int]] = {}
    for cell in table.cells:
        for col, e in ((results.get(cell.stage.key) or {}).get('evals') or {}).items():
            if 'ood_episodes' in e:
                a = acc.setdefault((cell.row, col), [0, 0, 0, 0])
                for i, key in enumerate(('demo_successes', 'demo_episodes', 'ood_successes',
                                         'ood_episodes')):
                    a[i] += e[key]
    if not acc:
        return []
    out = ['', '## Starts inside and outside the demos', '',
           "The same episodes as the success table, split by where each started: in the "
           "demos' range, or outside it (the arm displaced 1.5-2.5x the demos' start jitter on "
           'every axis, a door left ajar: PTR section VI-C). Pooled over seeds.', '',
           '| method | setting | demo starts | out-of-distribution starts |', '|---|---|---|---|']
    for (row, col), (kd, nd, ko, no) in acc.items():
        cells = [Counts({0: (k, n)}).cell() if n else 'none' for k, n in ((kd, nd), (ko, no))]
        out.append(f'| {row} | {col} | ' + ' | '.join(cells) + ' |')
    return out


def _partial_section(table: Table, results: dict[str, dict[str, Any]]) -> list[str]:
    """A compound task's first stage: episodes with at least one object in its container."""
    tasks = {e.get('task') for c in table.cells for e in c.stage.params.get('evals', {}).values()}
    if not any(t in TASKS and len(TASKS[t].goals) > 1 for t in tasks):
        return []
    part: dict[tuple[str, str], list[int]] = {}
    for cell in table.cells:
        for col, e in ((results.get(cell.stage.key) or {}).get('evals') or {}).items():
            if 'one_goal' in e:
                acc = part.setdefault((cell.row, col), [0, 0])
                acc[0] += e['one_goal']
                acc[1] += e['episodes']
    if not part:
        return []
    out = ['', '## Partial progress: at least one object in its bin', '',
           'The same episodes as the success table, counting those in which at least one '
           'object was in its own container at some step (PTR appendix B: the methods '
           'generally solve the first object; the second one decides).', '',
           '| method | ' + ' | '.join(table.columns) + ' |', '|---|' + '---|' * len(table.columns)]
    for r in table.rows:
        cells = []
        for c in table.columns:
            k, n = part.get((r, c), (0, 0))
            cells.append(Counts({0: (k, n)}).cell() if n else 'not run')
        out.append(f'| {r} | ' + ' | '.join(cells) + ' |')
    return out


def selection_quality(table: Table, results: dict[str, dict[str, Any]]
                      ) -> dict[str, list[float]]:
    """Per row, the Spearman correlation (one per run) of selection score and success.

    Success is measured on each checkpoint's snapshot episodes: a score that ranks checkpoints
    as success does gives +1; NaN where either is constant.
    """
    out: dict[str, list[float]] = {}
    for cell in table.cells:
        res = results.get(cell.stage.key) or {}
        snaps, scores = res.get('snapshots'), dict(res.get('scores') or [])
        if not snaps or len(scores) < 2:
            continue
        pairs = [(scores[s['step']], sum(e['successes'] for e in s['evals'].values())
                  / max(1, sum(e['episodes'] for e in s['evals'].values())))
                 for s in snaps if s['step'] in scores]
        if len(pairs) >= 2:
            out.setdefault(cell.row, []).append(spearman([a for a, _ in pairs],
                                                         [b for _, b in pairs]))
    return out


def _selection_quality_section(table: Table, results: dict[str, dict[str, Any]]
                               ) -> list[str]:
    q = selection_quality(table, results)
    if not q:
        return []
    out = ['', '## Does the selection score predict success?', '',
           'Every checkpoint of a run is also evaluated on a few episodes (the learning curve '
           'plot); per run, the Spearman rank correlation between its selection score and that '
           'success. Near +1: the score ranks checkpoints as success does; near 0: selection '
           'is a coin toss among them; NaN: a constant score or success.', '',
           '| method | Spearman per seed | mean |', '|---|---|---|']
    for r in table.rows:
        if r in q:
            vals = [v for v in q[r] if v == v]
            mean = f'{sum(vals) / len(vals):+.2f}' if vals else 'n/a'
            per = ', '.join(f'{v:+.2f}' if v == v else 'NaN' for v in q[r])
            out.append(f'| {r} | {per} | {mean} |')
    return out


def _departures_section(table: Table) -> list[str]:
    from ptr_bringup.experiments.presets import ExperimentPreset, departures
    try:
        preset = ExperimentPreset(**{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in table.settings.items()})
    except TypeError:  # settings of an older preset layout
        return []
    deps = departures(preset)
    if not deps:
        return ['', "## Departures from the papers' settings", '', 'None: the `paper` preset.']
    out = ['', "## Departures from the papers' settings", '',
           'The `paper` preset holds what PTR (appendix D, tables X-XI) and COG (appendix A) '
           'state, and full-scale defaults where they state nothing (seeds, episode counts); '
           'this run differs in:', '', '| setting | paper | here | why |',
           '|---|---|---|---|']
    out += [f'| {k} | {a} | {b} | {why} |' for k, a, b, why in deps]
    return out


def _interval(r: dict[str, Any]) -> str:
    if r['boot_lo'] != r['boot_lo']:  # NaN: one seed per arm
        return '[no bootstrap: 1 seed]'
    return f"[{100 * r['boot_lo']:+.1f}, {100 * r['boot_hi']:+.1f}]"


def _provenance(meta: dict[str, Any]) -> list[str]:
    """How the cells were produced: every run of the table, the code the cells ran at."""
    out = ['Produced by these runs (a later run reuses the finished stages of earlier ones):', '']
    out += [f"- `{r['command']}` at commit `{r['commit']}`, {r['date']}, {r['wall_min']:.1f} min "
            f"wall, {r['machine']}" + (f" ({r['note']})" if r.get('note') else '')
            for r in meta['runs']] or ['- (no recorded run)']
    ran = ', '.join(f'`{c}`' for c in meta['ran_at']) or '-'
    out += ['', f"The cells ran at {ran} and took {meta['compute_min']:.1f} min of stage time in "
            f"all; this page was rendered at `{meta['rendered_at']}`."]
    return out
