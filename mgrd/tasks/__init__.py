"""Tasks: items and their graders (the world's tasks, the benchmarks)."""

from mgrd.tasks.base import Task, TaskItem

__all__ = ["Task", "TaskItem"]
