/// A per-group aggregate that can absorb inputs, merge with another partial aggregate of the same
/// group, and be serialized for spilling. `merge` must be associative and commutative in effect
/// (up to floating-point rounding).
public protocol MergeableAggregator {
    associatedtype Input
    init()
    mutating func add(_ input: Input)
    mutating func merge(_ other: Self)
    /// Appends the state's bytes (read back by `init(decoding:)`).
    func encode(into bytes: inout [UInt8])
    /// Restores a state written by `encode(into:)`.
    init(decoding bytes: UnsafeRawBufferPointer) throws(SpillError)
    /// Approximate bytes one group's state occupies in memory (for budgeting).
    static var estimatedBytes: Int { get }
}

extension MergeableAggregator {
    public static var estimatedBytes: Int { MemoryLayout<Self>.stride }
}

/// Counts inputs per group.
public struct CountAggregator: MergeableAggregator, Sendable, Equatable {
    public var count: Int = 0
    public init() {}
    public mutating func add(_ input: Void) { count += 1 }
    public mutating func merge(_ other: CountAggregator) { count += other.count }
    public func encode(into bytes: inout [UInt8]) { withUnsafeBytes(of: Int64(count).littleEndian) { bytes.append(contentsOf: $0) } }
    public init(decoding bytes: UnsafeRawBufferPointer) throws(SpillError) {
        guard bytes.count == 8 else { throw SpillError(code: .corrupt, message: "count state has \(bytes.count) bytes") }
        count = Int(Int64(littleEndian: bytes.loadUnaligned(as: Int64.self)))
    }
}

/// Count, missing count, mean, variance (Welford's update, Chan et al.'s pairwise merge), min
/// and max of `Double` inputs. NaN inputs count as missing. The one implementation of these
/// moments: `stats`, `group-by` and the forest's per-feature statistics all use it.
///
/// `merge` is exact for the counts, min and max; mean and M2 agree across merge orders up to
/// floating-point rounding (Chan's formula is not bitwise associative), so callers that need
/// identical bits merge in a fixed order.
public struct RunningStatistics: MergeableAggregator, Sendable, Equatable {
    /// Non-missing values.
    public var count: Int { _count }
    /// NaN values seen.
    public var missing: Int { _missing }
    public var mean: Double { _mean }
    /// Sum of squared deviations from the mean (M2).
    public var m2: Double { _m2 }
    /// Smallest value; +infinity before the first one.
    public var min: Double { _min }
    /// Largest value; -infinity before the first one.
    public var max: Double { _max }

    @usableFromInline var _count: Int = 0
    @usableFromInline var _missing: Int = 0
    @usableFromInline var _mean: Double = 0
    @usableFromInline var _m2: Double = 0
    @usableFromInline var _min: Double = .infinity
    @usableFromInline var _max: Double = -.infinity

    public init() {}

    /// A state from its parts (e.g. computed by another accumulation scheme, or decoded).
    public init(count: Int, missing: Int, mean: Double, m2: Double, min: Double, max: Double) {
        _count = count
        _missing = missing
        _mean = mean
        _m2 = m2
        _min = min
        _max = max
    }

    /// Adds one value (NaN: one more missing). Inlinable: it runs per value in the hot loops.
    @inlinable
    public mutating func add(_ x: Double) {
        if x.isNaN {
            _missing += 1
            return
        }
        _count += 1
        let delta = x - _mean
        _mean += delta / Double(_count)
        _m2 += delta * (x - _mean)
        if x < _min { _min = x }
        if x > _max { _max = x }
    }

    public mutating func merge(_ o: RunningStatistics) {
        _missing += o._missing
        guard o._count > 0 else { return }
        guard _count > 0 else {
            let m = _missing
            self = o
            _missing = m
            return
        }
        let n = Double(_count)
        let m = Double(o._count)
        let total = n + m
        let delta = o._mean - _mean
        _mean += delta * (m / total)
        _m2 += o._m2 + delta * delta * (n * m / total)
        _count += o._count
        _min = Swift.min(_min, o._min)
        _max = Swift.max(_max, o._max)
    }

    /// Sample variance (n − 1 denominator, as pandas), NaN below two values.
    public var variance: Double { count > 1 ? m2 / Double(count - 1) : .nan }
    /// Sample standard deviation (n − 1 denominator, as pandas' `std()`).
    public var standardDeviation: Double { variance.squareRoot() }

    public func encode(into bytes: inout [UInt8]) {
        for v in [UInt64(count), UInt64(missing), mean.bitPattern, m2.bitPattern, min.bitPattern, max.bitPattern] {
            withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws(SpillError) {
        guard bytes.count == 48 else { throw SpillError(code: .corrupt, message: "statistics state has \(bytes.count) bytes") }
        func u(_ i: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        guard let count = Int(exactly: u(0)), let missing = Int(exactly: u(1)) else {
            throw SpillError(code: .corrupt, message: "statistics state has an impossible count")
        }
        self.init(
            count: count, missing: missing, mean: Double(bitPattern: u(2)), m2: Double(bitPattern: u(3)),
            min: Double(bitPattern: u(4)), max: Double(bitPattern: u(5)))
    }
}
