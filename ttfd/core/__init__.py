"""What every feature stands on: database, settings, errors, input rules, logs, claims, jobs, events."""
