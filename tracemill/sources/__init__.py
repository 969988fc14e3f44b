"""Record sources: agent-log formats (`agent_logs`), and the other generators of raw records."""
