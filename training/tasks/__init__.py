"""The registry of training tasks: ``shopml train <name>`` runs ``TASKS[name]``."""

from .churn import ChurnTask
from .ctr import CtrTask
from .propensity import PropensityTask
from .search_ranker import SearchRankerTask

TASKS = {task.name: task for task in (PropensityTask(), ChurnTask(), CtrTask(), SearchRankerTask())}
