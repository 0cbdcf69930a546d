"""Teleoperated demonstrations: the teleop node (keyboard, SpaceMouse) and the bag recorder."""
