"""Events in: match, check conditions, silence, throttle, record; the trail (SPEC §3–5, §16–17)."""
