"""Every config key is documented where it is defined, and the user can list them all."""
import dataclasses

import pytest

from ptr_core.config import AgentConfig, NetworkConfig, TrainConfig, preset
from ptr_core.config_docs import config_text, field_docs, main
from ptr_core.online_config import OnlineConfig


@pytest.mark.parametrize('cls', [NetworkConfig, AgentConfig, TrainConfig, OnlineConfig])
def test_every_field_has_a_one_line_doc(cls):
    docs = field_docs(cls)
    assert [f.name for f in dataclasses.fields(cls)] == list(docs)
    assert [name for name, doc in docs.items() if not doc] == []


def test_field_docs_read_the_comment_and_its_continuation_lines():
    docs = field_docs(OnlineConfig)
    assert docs['cql_alpha'] == 'CQL alpha online (PTR App. F: 5 offline, 0.5 online)'
    assert docs['labels'].startswith("online rewards: 'last_n'")
    assert docs['labels'].endswith("or 'recorded' (the classifier's per-step reward)")


def test_config_show_prints_the_preset_with_overrides_and_online(capsys):
    assert main(['show', '--preset', 'cog', '--set', 'agent.cql_alpha=3', '--online']) == 0
    out = capsys.readouterr().out.splitlines()
    alpha = [line for line in out if line.startswith('agent.cql_alpha = ')]
    assert alpha and alpha[0].split('#')[0].split('=')[1].strip() == '3'
    assert any(line.startswith('network.encoder = cog_conv') for line in out)
    assert any(line.startswith('guard_window = 8 ') for line in out)


def test_config_show_refuses_a_bad_key_in_one_line(capsys):
    assert main(['show', '--set', 'agent.cql_alfa=3']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and "unknown key 'agent.cql_alfa'" in err


def test_training_help_lists_the_keys(capsys):
    from ptr_core.cli import pretrain_main
    with pytest.raises(SystemExit):
        pretrain_main(['--help'])
    out = capsys.readouterr().out
    assert config_text(preset('ptr_sim_cpu')) in out
    assert 'agent.polyak = 0.005' in out
