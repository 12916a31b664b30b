"""What every room uses: settings, database and models, logs, metrics, Redis, the vocabulary."""
