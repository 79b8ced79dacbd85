"""The registry of training tasks: ``shopml train <name>`` runs ``TASKS[name]``."""

from .churn import ChurnTask
from .propensity import PropensityTask

TASKS = {task.name: task for task in (PropensityTask(), ChurnTask())}
