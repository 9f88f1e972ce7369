"""Package data of the cloud market: the synthetic task-events sample (see ``trace.py``)."""
