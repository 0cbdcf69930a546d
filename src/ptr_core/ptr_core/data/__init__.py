"""Trajectories and the on-disk dataset format."""
from ptr_core.data.dataset import Dataset, DatasetError, DatasetWriter, TaskDataset
from ptr_core.data.trajectory import Trajectory

__all__ = ['Dataset', 'DatasetError', 'DatasetWriter', 'TaskDataset', 'Trajectory']
