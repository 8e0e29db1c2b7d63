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

/// Count, missing count, mean, variance (Welford, merged with Chan et al.), min and max of
/// `Double` inputs. NaN inputs count as missing.
public struct RunningStatistics: MergeableAggregator, Sendable, Equatable {
    /// Non-missing values.
    public private(set) var count: Int = 0
    /// NaN values seen.
    public private(set) var missing: Int = 0
    public private(set) var mean: Double = 0
    /// Sum of squared deviations from the mean.
    public private(set) var m2: Double = 0
    public private(set) var min: Double = .infinity
    public private(set) var max: Double = -.infinity

    public init() {}

    /// A state from its parts (e.g. computed by another accumulation scheme).
    public init(count: Int, missing: Int, mean: Double, m2: Double, min: Double, max: Double) {
        self.count = count
        self.missing = missing
        self.mean = mean
        self.m2 = m2
        self.min = min
        self.max = max
    }

    public mutating func add(_ x: Double) {
        if x.isNaN {
            missing += 1
            return
        }
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
        if x < min { min = x }
        if x > max { max = x }
    }

    public mutating func merge(_ o: RunningStatistics) {
        missing += o.missing
        guard o.count > 0 else { return }
        guard count > 0 else {
            let m = missing
            self = o
            missing = m
            return
        }
        let n = Double(count + o.count)
        let delta = o.mean - mean
        mean += delta * Double(o.count) / n
        m2 += o.m2 + delta * delta * Double(count) * Double(o.count) / n
        count += o.count
        min = Swift.min(min, o.min)
        max = Swift.max(max, o.max)
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
        self.count = count
        self.missing = missing
        mean = Double(bitPattern: u(2))
        m2 = Double(bitPattern: u(3))
        min = Double(bitPattern: u(4))
        max = Double(bitPattern: u(5))
    }
}
