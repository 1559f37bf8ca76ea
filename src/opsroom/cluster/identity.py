"""This process's name among the replicas: host, pid and start time, so a restarted process
(same pid after a reboot, or in a container) is never taken for the one before it."""

from __future__ import annotations

import os
import socket
import time

REPLICA_ID = f"{socket.gethostname()[:100]}:{os.getpid()}:{int(time.time() * 1000)}"
