"""Notifications out: claim, render, send per channel, retry, replay, health (SPEC §7, §8, §18)."""
