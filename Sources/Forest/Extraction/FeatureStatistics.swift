/// Streaming statistics of one feature: count, missing, mean and variance
/// (Welford's update, Chan et al.'s pairwise merge), minimum and maximum.
///
/// `merge` is exact for counts, min and max; mean and variance agree across merge
/// orders up to floating-point rounding (Chan's formula is not bitwise associative),
/// which is why the coordinator always merges in partition order.
public struct FeatureStatistics: Sendable, Equatable {
    /// Non-missing values seen.
    public private(set) var count: UInt64 = 0
    /// Missing values seen (empty field, NA, NaN).
    public private(set) var missing: UInt64 = 0
    public private(set) var mean: Double = 0
    /// Sum of squared deviations from the mean (M2).
    public private(set) var sumSquaredDeviations: Double = 0
    public private(set) var minimum: Double = .infinity
    public private(set) var maximum: Double = -.infinity

    public init() {}

    /// Statistics that count present and missing values only (a categorical column).
    public init(count: UInt64, missing: UInt64) {
        self.count = count
        self.missing = missing
    }

    /// Population variance (M2 / count); 0 with fewer than two values.
    public var variance: Double { count > 1 ? sumSquaredDeviations / Double(count) : 0 }

    @inline(__always)
    public mutating func add(_ value: Double) {
        if value.isNaN {
            missing += 1
            return
        }
        count += 1
        let delta = value - mean
        mean += delta / Double(count)
        sumSquaredDeviations += delta * (value - mean)
        if value < minimum { minimum = value }
        if value > maximum { maximum = value }
    }

    public mutating func merge(_ other: FeatureStatistics) {
        missing += other.missing
        guard other.count > 0 else { return }
        guard count > 0 else {
            count = other.count
            mean = other.mean
            sumSquaredDeviations = other.sumSquaredDeviations
            minimum = other.minimum
            maximum = other.maximum
            return
        }
        let n = Double(count)
        let m = Double(other.count)
        let total = n + m
        let delta = other.mean - mean
        mean += delta * (m / total)
        sumSquaredDeviations += other.sumSquaredDeviations + delta * delta * (n * m / total)
        count += other.count
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
    }

    func write(to w: inout ByteWriter) {
        w.write(count)
        w.write(missing)
        w.write(mean)
        w.write(sumSquaredDeviations)
        w.write(minimum)
        w.write(maximum)
    }

    static func read(from r: inout ByteReader) throws -> FeatureStatistics {
        var s = FeatureStatistics()
        s.count = try r.read()
        s.missing = try r.read()
        s.mean = try r.readDouble()
        s.sumSquaredDeviations = try r.readDouble()
        s.minimum = try r.readDouble()
        s.maximum = try r.readDouble()
        return s
    }
}
