/// ForestRNG is SplitMix64 (Steele, Lea & Flood 2014): the splittable random number generator
/// every random choice in the Forest module derives from.
///
/// The state advances by the golden-gamma constant `0x9E3779B97F4A7C15`; each output
/// is the state passed through the `mix64` finaliser. Child streams are derived with
/// ``derive(_:_:)``: `mix64(parent ^ mix64(label + gamma))`, so the seed of tree `i` of
/// partition `p` is `derive(derive(derive(jobSeed, "tree"), p), i)` and does not depend
/// on which process or thread builds it.
public struct ForestRNG: RandomNumberGenerator, Sendable {
    public static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= Self.gamma
        return Self.mix64(state)
    }

    /// Stafford's variant 13 finaliser, as in Java's `SplittableRandom`.
    @inline(__always)
    public static func mix64(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The seed of child stream `label` of stream `seed`.
    @inline(__always)
    public static func derive(_ seed: UInt64, _ label: UInt64) -> UInt64 {
        mix64(seed ^ mix64(label &+ gamma))
    }

    /// The seed of tree `tree` of partition `partition` in a job seeded with `seed`.
    public static func treeSeed(seed: UInt64, partition: Int, tree: Int) -> UInt64 {
        derive(derive(derive(seed, 0x7472_6565), UInt64(partition)), UInt64(tree))
    }

    /// A uniform integer in `0..<bound` (Lemire's multiply-shift; bias < 2^-32 for bounds < 2^32).
    @inline(__always)
    public mutating func nextInt(below bound: Int) -> Int {
        Int(truncatingIfNeeded: (next().multipliedFullWidth(by: UInt64(bound))).high)
    }

    /// A uniform double in `[0, 1)` with 53 random bits.
    @inline(__always)
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
