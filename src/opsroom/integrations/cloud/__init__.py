"""Cloud providers behind one protocol (base.CloudProvider): AWS today (aws.py), the runner
that turns catalog commands into provider calls (runner.py), access-key rotation with its
scheduled, persisted deletion of the old key (keys.py, schedule.py)."""
