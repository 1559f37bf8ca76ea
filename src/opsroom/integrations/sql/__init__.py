"""Read-only SQL from chat (``/sql <database> <query>``): guard.py refuses anything but one
read statement, query.py runs it read-only and bounded, runner.py ties them to a run."""
