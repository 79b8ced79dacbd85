"""Push uplift: for a user at a push campaign's send, how much the push raises the chance of a
purchase within 48 hours, whether it puts the user off (a second uplift model, on a visit in
those 48 hours: the simulator's users with a negative push effect visit less, and the fatigue it
leaves raises their churn) and how much it adds to the chance the user is gone (a third, on
silence all through the 28 days after). Pushes go to a random half of each campaign's targets
(``pushes.treated``); the campaign (what the push says) is a feature, as campaigns move different
users; the truth is each send's true uplift and its campaign's effect on the user (``truth.pushes``). The learners are ``training.uplift``'s, the task and its what-if ``training.campaigns``';
served as ``POST /push_plan``, which sends each user the campaign with the highest predicted uplift
among those that do not put them off."""

from __future__ import annotations

from ..campaign_endpoint import plan_endpoint
from ..campaigns import CampaignUpliftTask, Sends

SENDS = Sends(table="pushes", id_column="push_id", treatment="treated", outcome="converted", window_days=2,
              truth="truth.pushes", send="push", can_put_off=True, campaign_column="campaign")


class PushUpliftTask(CampaignUpliftTask):
    name = "push_uplift"
    question = "Who buys because of a push, which push, who is put off, and how many will it drive away?"
    sends = SENDS
    endpoint = plan_endpoint("/push_plan", name, SENDS)
