"""Several replicas on one PostgreSQL database: who is alive (heartbeats), who leads
(an advisory-lock lease), and what happens to the runs of a replica that died."""
