"""Config presets, YAML loading, CLI overrides and their one-line errors."""
import pytest

from ptr_core.config import Config, ConfigError, load_config, preset


def test_presets_carry_the_papers_settings():
    real = preset('ptr_real')
    assert (real.network.encoder, real.network.image_size, real.network.norm) == (
        'resnet34', 128, 'group')
    assert real.network.q_hidden == (256, 256, 256) and real.network.q_concat_every_layer
    a = real.agent
    assert (a.cql_alpha, a.discount, a.num_policy_actions, a.num_uniform_actions) == (
        10.0, 0.96, 4, 4)
    assert (a.q_lr, a.policy_lr, a.target_entropy, real.train.batch_size) == (3e-4, 1e-4, -7.0, 64)
    cog = preset('cog')
    assert (cog.network.image_size, cog.network.encoder, cog.network.q_hidden) == (
        48, 'cog_conv', (1024, 512, 256))
    assert (cog.agent.cql_alpha, cog.agent.discount, cog.train.batch_size) == (1.0, 0.99, 256)
    assert cog.agent.bc_warmstart_steps == 10_000
    assert preset('ptr_sim_cpu').network.image_size == 64


def test_yaml_then_overrides(tmp_path):
    p = tmp_path / 'c.yaml'
    p.write_text('preset: cog\nagent:\n  cql_alpha: 5\ntrain:\n  steps: 7\n')
    cfg = load_config(p, ['agent.cql_alpha=2.5', 'network.q_hidden=32,16',
                          'network.shared_encoder=true'])
    assert cfg.preset == 'cog' and cfg.network.image_size == 48
    assert cfg.agent.cql_alpha == 2.5 and isinstance(cfg.agent.cql_alpha, float)
    assert cfg.train.steps == 7 and cfg.network.q_hidden == (32, 16)
    assert cfg.network.shared_encoder is True
    assert Config.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()


@pytest.mark.parametrize('override, message', [
    ('agent.alpha=3', "unknown key 'agent.alpha'"),
    ('agents.cql_alpha=3', "unknown section 'agents'"),
    ('train.steps=many', "train.steps: expected int, got 'many'"),
    ('train.steps=1.5', 'train.steps: expected int, got 1.5'),
    ('network.shared_encoder=3', 'network.shared_encoder: expected bool, got 3'),
    ('network.encoder=vgg', 'network.encoder: expected one of'),
    ('agent.discount=1.5', 'agent.discount: expected in [0, 1), got 1.5'),
    ('cql_alpha', 'expected section.field=value'),
])
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert message in str(e.value) and '\n' not in str(e.value)


def test_bad_yaml_names_the_file(tmp_path):
    p = tmp_path / 'bad.yaml'
    p.write_text('agent:\n  cql_alpha: [1\n')
    with pytest.raises(ConfigError, match='bad.yaml: invalid YAML'):
        load_config(p)
    p.write_text('agent:\n  nope: 1\n')
    with pytest.raises(ConfigError, match="bad.yaml: unknown key 'agent.nope'"):
        load_config(p)
    with pytest.raises(ConfigError, match='missing.yaml: cannot read config'):
        load_config(tmp_path / 'missing.yaml')
    with pytest.raises(ConfigError, match='preset: expected one of'):
        load_config(None, preset_name='ptr_huge')


def test_retired_online_keys_of_older_checkpoints_load_and_unknown_keys_still_fail():
    d = Config().to_dict()
    d['train'].update(beta=[0.35, 0.15, 0.5], utd=1)  # written by checkpoints before the move
    assert Config.from_dict(d).to_dict() == Config().to_dict()
    d['train']['betta'] = 1
    with pytest.raises(ConfigError, match="unknown key 'train.betta'"):
        Config.from_dict(d)
