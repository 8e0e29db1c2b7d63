// The Cluster module. See docs/architecture.md.
