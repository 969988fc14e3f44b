"""`tracemill rl-mix`: the same graded pass as sft-mix, emitting the RL mixture only."""

from __future__ import annotations

from tracemill.commands.sft_mix import add_mix_arguments, run

# An SFT budget of zero: resolved rollouts are still graded and become +1 RL examples, and every SFT
# candidate is recorded as a mix drop, so the run reconciles exactly like sft-mix.
RL_ONLY = ("mix.sft.token_budget=0",)


def register(sub) -> None:
    p = sub.add_parser("rl-mix", help="tasks + rollouts -> graded RL mixture (rewards, reasons, verifiers)",
                       description="Run the sft-mix graph but emit only the RL mixture: every graded rollout "
                                   "with reward +1/-1, its reason, policy versions and a verifier spec to re-run "
                                   "the task. Weights and budgets come from mix.rl.*; --set overrides apply "
                                   "after the RL-only preset.")
    add_mix_arguments(p, "out/rl-mix")
    p.set_defaults(func=run, accepts_beam_args=True, pipeline_name="rl-mix", preset=RL_ONLY)
