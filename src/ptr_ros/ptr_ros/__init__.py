"""ROS 2 plumbing every node shares: the QoS profiles of the topic contract and the node main()."""
