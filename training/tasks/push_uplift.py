"""Push uplift: for a user at a push campaign's send, how much the push raises the chance of a
purchase within 48 hours; negative where it puts the user off (the simulator's users with a
negative push effect). Pushes go to a random half of each campaign's targets (``pushes.treated``);
the truth is each send's true uplift (``truth.pushes``). The learners, splits and figures are
``training.uplift``'s. The longer harm of pushes, fatigue that raises churn over weeks, is not
predicted yet. Not served yet."""

from __future__ import annotations

from ..campaigns import CampaignUpliftTask, Sends


class PushUpliftTask(CampaignUpliftTask):
    name = "push_uplift"
    question = "Who buys because of a push, and who is put off by it?"
    sends = Sends(table="pushes", id_column="push_id", treatment="treated", outcome="converted", window_days=2,
                  truth="truth.pushes", send="push", can_put_off=True)
