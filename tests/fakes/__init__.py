"""Local stand-ins for external services, each citing the docs its shapes came from."""
