"""The bash-first agent interface shared by recorded and generated rollouts."""
