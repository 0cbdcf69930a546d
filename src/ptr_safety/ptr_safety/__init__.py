"""Safety between every action source and the robot: the filter node and the e-stop."""
