"""The task registry: every task of the platform, one module each, in the order the README's
table lists them. The CLI (``shopml train``, ``shopml tasks``), the services (one endpoint per
task), ``serve --try-endpoints``, the benches and the end-to-end tests read it; adding a task is
adding its module here.

A task declares (``training.task.Task``): its name, the question it answers in a shop's words,
its family, entity and feature service, its evaluation kind, the stored model it makes and the
command that makes it, and, when it serves, its ``Endpoint``."""

from __future__ import annotations

from ..task import Task
from .ad_audience import AdAudienceTask
from .ad_incrementality import AdIncrementalityTask
from .categorize import CategorizeTask
from .churn import ChurnTask
from .coupon_uplift import CouponUpliftTask
from .display_order import DisplayOrderTask
from .engagement import EngagementTask
from .feedback import FeedbackTask
from .forecast import ForecastTask
from .ctr import CtrTask
from .interactions import InteractionsTask
from .next_action import NextActionTask
from .next_item import NextItemTask
from .preferences import PreferencesTask
from .price_elasticity import PriceElasticityTask
from .price_prediction import PricePredictionTask
from .propensity import PropensityTask
from .push_uplift import PushUpliftTask
from .recommendations import RecommendationsTask
from .review_sentiment import ReviewSentimentTask
from .search_ranker import SearchRankerTask
from .segments import SegmentsTask
from .similar_items import SimilarItemsTask
from .user_embedding import UserEmbeddingTask

REGISTRY: dict[str, Task] = {task.name: task for task in (
    PropensityTask(), ChurnTask(), InteractionsTask(), EngagementTask(), PreferencesTask(), UserEmbeddingTask(), SegmentsTask(),
    NextItemTask(), NextActionTask(),
    CtrTask(), AdIncrementalityTask(), AdAudienceTask(), CouponUpliftTask(), PushUpliftTask(), SimilarItemsTask(), SearchRankerTask(), RecommendationsTask(), DisplayOrderTask(),
    ForecastTask(),
    PriceElasticityTask(), PricePredictionTask(), ReviewSentimentTask(), CategorizeTask(), FeedbackTask())}
# the tasks `shopml train` fits (the others say which command makes their model)
TASKS: dict[str, Task] = {name: task for name, task in REGISTRY.items() if hasattr(task, "build_dataset")}


def model_name(task: Task) -> str:
    """The stored model a task makes (its name unless it says otherwise)."""
    return getattr(task, "model", task.name)


def made_by(task: Task) -> str:
    """The command that makes the task's model."""
    return getattr(task, "made_by", f"shopml train {task.name}")


def serving_tasks() -> list[Task]:
    return [task for task in REGISTRY.values() if getattr(task, "endpoint", None) is not None]
