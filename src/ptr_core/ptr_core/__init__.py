"""Pure PTR/COG learning core: data, networks, CQL and baselines, checkpoint selection. No rclpy."""
