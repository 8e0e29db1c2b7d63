import Foundation

@testable import SpaceTime

/// A seeded generator for property tests (the core's SplitMix64), so failures reproduce.
typealias SeededRandom = SplitMix64
