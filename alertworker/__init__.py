"""alertworker: turns alert events from an AI gateway into throttled, delivered notifications.

The domain package knows nothing of Flask or of Celery's worker: ``api/`` and ``tasks/`` are thin
layers over it. Start at ``pipeline.py`` (event -> notifications) and ``deliveries.py``
(delivery row lifecycle).
"""
