// The ZeroMQ module. See docs/architecture.md.
