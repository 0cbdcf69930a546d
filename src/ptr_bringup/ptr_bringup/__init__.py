"""Launch files, parameter files, the graph runner and the ptr command line."""
