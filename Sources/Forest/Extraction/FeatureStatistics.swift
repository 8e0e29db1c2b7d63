import SpaceTime

/// Streaming statistics of one feature: count, missing, mean and variance, minimum and
/// maximum — SpaceTime's ``RunningStatistics`` with the forest's names and unsigned counts.
///
/// The coordinator merges partitions in partition order, so the merged mean and variance are the
/// same bits for any worker count (Chan's merge is not bitwise associative).
public struct FeatureStatistics: Sendable, Equatable {
    @usableFromInline var moments = RunningStatistics()

    /// Non-missing values seen.
    public var count: UInt64 { UInt64(moments.count) }
    /// Missing values seen (empty field, NA, NaN).
    public var missing: UInt64 { UInt64(moments.missing) }
    public var mean: Double { moments.mean }
    /// Sum of squared deviations from the mean (M2).
    public var sumSquaredDeviations: Double { moments.m2 }
    public var minimum: Double { moments.min }
    public var maximum: Double { moments.max }

    public init() {}

    /// Statistics that count present and missing values only (a categorical column).
    public init(count: UInt64, missing: UInt64) {
        moments = RunningStatistics(count: Int(count), missing: Int(missing), mean: 0, m2: 0, min: .infinity, max: -.infinity)
    }

    /// Population variance (M2 / count); 0 with fewer than two values.
    public var variance: Double { count > 1 ? sumSquaredDeviations / Double(count) : 0 }

    @inlinable
    public mutating func add(_ value: Double) { moments.add(value) }

    public mutating func merge(_ other: FeatureStatistics) { moments.merge(other.moments) }

    func write(to w: inout ByteWriter) {
        w.write(count)
        w.write(missing)
        w.write(mean)
        w.write(sumSquaredDeviations)
        w.write(minimum)
        w.write(maximum)
    }

    static func read(from r: inout ByteReader) throws -> FeatureStatistics {
        let count: UInt64 = try r.read()
        let missing: UInt64 = try r.read()
        let mean = try r.readDouble()
        let m2 = try r.readDouble()
        let minimum = try r.readDouble()
        let maximum = try r.readDouble()
        guard let n = Int(exactly: count), let nMissing = Int(exactly: missing) else {
            throw ForestError(.corrupted, "feature statistics: impossible counts \(count), \(missing)")
        }
        var s = FeatureStatistics()
        s.moments = RunningStatistics(count: n, missing: nMissing, mean: mean, m2: m2, min: minimum, max: maximum)
        return s
    }
}
