"""What a tenant owns and manages: tokens, configs, notifications, preferences, silences, users."""
