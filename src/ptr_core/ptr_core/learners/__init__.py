"""One learner class per algorithm on the shared base ptr_core.agent.Agent; the registry maps
`agent.algo` to them (ptr_core.learners.registry)."""
