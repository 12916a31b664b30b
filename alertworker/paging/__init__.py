"""Who gets woken: the lifecycle, escalation policies and on-call schedules (SPEC §13, §14)."""
