"""Losses as named pure functions returning (loss, metrics): CQL / Cal-QL, BC, AW-BC."""
from ptr_core.algos.bc import awbc_loss, awbc_weights, bc_loss
from ptr_core.algos.cql import (
    actor_loss_from_values,
    conservative_logsumexp,
    cql_losses,
    critic_loss_from_values,
    td_target,
    temperature_loss,
)

__all__ = ['actor_loss_from_values', 'awbc_loss', 'awbc_weights', 'bc_loss',
           'conservative_logsumexp', 'cql_losses', 'critic_loss_from_values', 'td_target',
           'temperature_loss']
