// The SpaceTime module. See docs/architecture.md.
