"""The service's background tasks, kept running: restarted with back-off when they fail, ended for certain on stop."""
