"""PyBullet WidowX 250 (wx250s) simulation: gymnasium tasks, scripted policies, data collection, ROS bridge node."""
