"""``huddle bench``: load-test a Huddle server and report what it cost (see benchmarks/README.md)."""
