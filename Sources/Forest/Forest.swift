// The Forest module. See docs/architecture.md.
