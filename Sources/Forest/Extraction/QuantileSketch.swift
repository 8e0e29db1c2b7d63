/// A mergeable quantile sketch with a relative value-error guarantee, built on a fixed,
/// data-independent bucketing of the real line (in the spirit of DDSketch, but with
/// buckets taken from the IEEE-754 bit pattern instead of a logarithm).
///
/// Each non-missing value `x` falls into the bucket given by the sign, binary exponent
/// and top ``mantissaBits`` mantissa bits of `x`, so a bucket spans a relative width of
/// at most 2^-7 (0.78 %). Magnitudes below 2^-32 share one "zero" bucket; magnitudes of
/// 2^64 and above share the two outermost buckets. The sketch stores exact counts per
/// occupied bucket, so:
/// - `merge` adds counts: it is exactly associative and commutative (any grouping of
///   partial sketches gives bit-identical state and therefore identical bin edges);
/// - any quantile answer is a bucket boundary within relative error 2^-7 of a true data
///   value of exactly that rank (rank error 0 at bucket granularity);
/// - size is bounded by the number of occupied buckets: at most 2·96·128 + 3 = 24,579,
///   in practice a few thousand per feature.
public struct QuantileSketch: Sendable, Equatable {
    public static let mantissaBits = 7
    static let minExponent = -32
    static let maxExponent = 63
    static let zeroMagnitude = 0x1p-32
    static let hugeMagnitude = 0x1p64
    static let topKey = Int32(1 + (maxExponent - minExponent + 1) << mantissaBits)

    /// Occupied bucket keys, ascending (monotone in value).
    public private(set) var keys: [Int32] = []
    /// Count per key in `keys`.
    public private(set) var counts: [UInt64] = []
    private var pending: [Int32] = []

    public init() {}

    /// Total non-missing values seen.
    public var totalCount: UInt64 {
        counts.reduce(0, +) + UInt64(pending.count)
    }

    /// The bucket key of a non-NaN value; monotone non-decreasing in `value`.
    @inline(__always)
    public static func key(_ value: Double) -> Int32 {
        let magnitude = value.magnitude
        if magnitude < zeroMagnitude { return 0 }
        let positiveKey: Int32
        if magnitude >= hugeMagnitude {
            positiveKey = topKey
        } else {
            let bits = magnitude.bitPattern
            let exponent = Int((bits >> 52) & 0x7FF) - 1023
            let mantissa = Int((bits >> UInt64(52 - mantissaBits)) & UInt64((1 << mantissaBits) - 1))
            positiveKey = Int32(1 + ((exponent - minExponent) << mantissaBits) + mantissa)
        }
        return value < 0 ? -positiveKey : positiveKey
    }

    /// The largest value that falls in bucket `key` (the bin edge used for splits).
    public static func upperBound(ofKey key: Int32) -> Double {
        if key == 0 { return zeroMagnitude.nextDown }
        if key > 0 {
            if key >= topKey { return .infinity }
            return lowerMagnitude(key + 1).nextDown
        }
        return -lowerMagnitude(-key)
    }

    /// The smallest magnitude in positive bucket `positiveKey`.
    private static func lowerMagnitude(_ positiveKey: Int32) -> Double {
        if positiveKey >= topKey { return hugeMagnitude }
        let index = Int(positiveKey) - 1
        let exponent = (index >> mantissaBits) + minExponent
        let mantissa = index & ((1 << mantissaBits) - 1)
        return Double(sign: .plus, exponent: exponent,
                      significand: 1 + Double(mantissa) / Double(1 << mantissaBits))
    }

    /// Adds one value (NaN is ignored: missing values are counted by the statistics).
    @inline(__always)
    public mutating func add(_ value: Double) {
        guard !value.isNaN else { return }
        pending.append(Self.key(value))
        if pending.count >= 1 << 13 { compact() }
    }

    /// Folds the insertion buffer into the sorted arrays.
    public mutating func compact() {
        guard !pending.isEmpty else { return }
        pending.sort()
        var other = QuantileSketch()
        var i = 0
        while i < pending.count {
            let k = pending[i]
            var j = i + 1
            while j < pending.count && pending[j] == k { j += 1 }
            other.keys.append(k)
            other.counts.append(UInt64(j - i))
            i = j
        }
        pending.removeAll(keepingCapacity: true)
        mergeSorted(other)
    }

    /// Adds `other`'s counts into this sketch (exact; associative and commutative).
    public mutating func merge(_ other: QuantileSketch) {
        compact()
        var o = other
        o.compact()
        mergeSorted(o)
    }

    private mutating func mergeSorted(_ other: QuantileSketch) {
        if keys.isEmpty { keys = other.keys; counts = other.counts; return }
        var newKeys: [Int32] = [], newCounts: [UInt64] = []
        newKeys.reserveCapacity(keys.count + other.keys.count)
        newCounts.reserveCapacity(keys.count + other.keys.count)
        var i = 0, j = 0
        while i < keys.count || j < other.keys.count {
            if j == other.keys.count || (i < keys.count && keys[i] < other.keys[j]) {
                newKeys.append(keys[i]); newCounts.append(counts[i]); i += 1
            } else if i == keys.count || other.keys[j] < keys[i] {
                newKeys.append(other.keys[j]); newCounts.append(other.counts[j]); j += 1
            } else {
                newKeys.append(keys[i]); newCounts.append(counts[i] + other.counts[j]); i += 1; j += 1
            }
        }
        keys = newKeys
        counts = newCounts
    }

    /// Up to `maxBins - 1` strictly increasing bin edges (bucket upper bounds) that split
    /// the sketched values into at most `maxBins` bins of roughly equal count. Distinct
    /// buckets get their own bin while they fit; a heavy bucket takes one bin and the
    /// remaining bins are shared out over the remaining values.
    public func binEdges(maxBins: Int) -> [Double] {
        var s = self
        s.compact()
        let n = s.keys.count
        guard n > 1, maxBins > 1 else { return [] }
        let total = Double(s.counts.reduce(0, +))
        var edges: [Double] = []
        var cumulative: UInt64 = 0, lastCut: UInt64 = 0
        for i in 0..<(n - 1) {
            cumulative += s.counts[i]
            let remainingBins = maxBins - edges.count
            let keysAfter = n - 1 - i
            let target = (total - Double(lastCut)) / Double(remainingBins)
            if keysAfter < remainingBins || Double(cumulative - lastCut) >= target {
                edges.append(Self.upperBound(ofKey: s.keys[i]))
                lastCut = cumulative
                if edges.count == maxBins - 1 { break }
            }
        }
        return edges
    }

    func write(to w: inout ByteWriter) {
        var s = self
        s.compact()
        w.write(array: s.keys)
        w.write(array: s.counts)
    }

    static func read(from r: inout ByteReader) throws -> QuantileSketch {
        var s = QuantileSketch()
        s.keys = try r.readArray(Int32.self)
        s.counts = try r.readArray(UInt64.self)
        guard s.keys.count == s.counts.count,
              zip(s.keys, s.keys.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw ForestError(.corrupted, "\(r.context): quantile sketch keys are not strictly increasing")
        }
        return s
    }

    public static func == (a: QuantileSketch, b: QuantileSketch) -> Bool {
        var x = a, y = b
        x.compact(); y.compact()
        return x.keys == y.keys && x.counts == y.counts
    }
}
