"""Pure PTR/COG learning core: data, networks, CQL, baselines, checkpoint selection. No rclpy."""
