/// A mergeable quantile sketch: exact while a feature has few distinct values, and beyond
/// that a fixed, data-independent bucketing of the real line with a relative
/// value-error guarantee (in the spirit of DDSketch, but with buckets taken from the
/// IEEE-754 bit pattern instead of a logarithm).
///
/// **Exact mode.** Up to ``exactCapacity`` distinct values the sketch keeps each value
/// with its count; bin edges then fall midway between consecutive distinct values, as
/// scikit-learn's and LightGBM's thresholds do, so no two training values share a bin
/// unless there are more of them than bins. The state turns into buckets as soon as the
/// values it holds have more distinct ones than that, so whether a merged sketch is
/// exact depends only on the union of the values, not on how it was partitioned.
///
/// **Bucket mode.** Each non-missing value `x` falls into the bucket given by the sign,
/// binary exponent and top ``mantissaBits`` mantissa bits of `x`, so a bucket spans a
/// relative width of at most 2^-7 (0.78 %). Magnitudes below 2^-32 share one "zero"
/// bucket; magnitudes of 2^64 and above share the two outermost buckets. The sketch
/// stores exact counts per occupied bucket.
///
/// In both modes:
/// - `merge` adds counts: it is exactly associative and commutative (any grouping of
///   partial sketches gives bit-identical state and therefore identical bin edges);
/// - bucket mode: any quantile answer is a bucket boundary within relative error 2^-7 of
///   a true data value of exactly that rank (rank error 0 at bucket granularity);
/// - size is bounded: ``exactCapacity`` values, or the occupied buckets, at most
///   2·96·128 + 3 = 24,579, in practice a few thousand per feature.
public struct QuantileSketch: Sendable, Equatable {
    public static let mantissaBits = 7
    /// Distinct values kept exactly before the sketch turns into buckets.
    public static let exactCapacity = 1024
    static let minExponent = -32
    static let maxExponent = 63
    static let zeroMagnitude = 0x1p-32
    static let hugeMagnitude = 0x1p64
    static let topKey = Int32(1 + (maxExponent - minExponent + 1) << mantissaBits)

    /// Whether the sketch still holds every distinct value exactly (``values``) rather than buckets (``keys``).
    public private(set) var isExact = true
    /// Exact mode: the distinct values seen, ascending (-0 is stored as +0).
    public private(set) var values: [Double] = []
    /// Bucket mode: occupied bucket keys, ascending (monotone in value).
    public private(set) var keys: [Int32] = []
    /// Count per entry of `values` (exact mode) or `keys` (bucket mode).
    public private(set) var counts: [UInt64] = []
    private var pending: [Double] = []

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
        return Double(
            sign: .plus, exponent: exponent,
            significand: 1 + Double(mantissa) / Double(1 << mantissaBits))
    }

    /// The edge between consecutive distinct values `a < b`: their midpoint, or `a` where
    /// the midpoint is not strictly between them (adjacent doubles, infinities, overflow).
    @inline(__always)
    static func midpoint(_ a: Double, _ b: Double) -> Double {
        let m = a / 2 + b / 2
        return m >= a && m < b ? m : a
    }

    /// Adds one value (NaN is ignored: missing values are counted by the statistics).
    @inline(__always)
    public mutating func add(_ value: Double) {
        guard !value.isNaN else { return }
        pending.append(value == 0 ? 0 : value)
        if pending.count >= 1 << 13 { compact() }
    }

    /// Folds the insertion buffer into the sorted arrays.
    public mutating func compact() {
        guard !pending.isEmpty else { return }
        pending.sort()
        var other = QuantileSketch()
        var i = 0
        while i < pending.count {
            let v = pending[i]
            var j = i + 1
            while j < pending.count && pending[j] == v { j += 1 }
            other.values.append(v)
            other.counts.append(UInt64(j - i))
            i = j
        }
        pending.removeAll(keepingCapacity: true)
        other.limitExact()
        mergeCompacted(other)
    }

    /// Adds `other`'s counts into this sketch (exact; associative and commutative).
    public mutating func merge(_ other: QuantileSketch) {
        compact()
        var o = other
        o.compact()
        mergeCompacted(o)
    }

    /// Turns an exact state with more than ``exactCapacity`` distinct values into buckets.
    private mutating func limitExact() {
        if isExact && values.count > Self.exactCapacity { forceBuckets() }
    }

    private mutating func mergeCompacted(_ other: QuantileSketch) {
        var o = other
        if isExact != o.isExact {
            // Bucket mode wins: a state with too many distinct values stays over the cap.
            if isExact { forceBuckets() } else { o.forceBuckets() }
        }
        if isExact {
            let (v, c) = Self.mergeSorted(values, counts, o.values, o.counts)
            values = v
            counts = c
            limitExact()
        } else {
            let (k, c) = Self.mergeSorted(keys, counts, o.keys, o.counts)
            keys = k
            counts = c
        }
    }

    private mutating func forceBuckets() {
        guard isExact else { return }
        var k: [Int32] = []
        var c: [UInt64] = []
        for (v, n) in zip(values, counts) {
            let key = Self.key(v)
            if k.last == key {
                c[c.count - 1] += n
            } else {
                k.append(key)
                c.append(n)
            }
        }
        isExact = false
        values = []
        keys = k
        counts = c
    }

    private static func mergeSorted<T: Comparable>(_ a: [T], _ ac: [UInt64], _ b: [T], _ bc: [UInt64]) -> ([T], [UInt64]) {
        if a.isEmpty { return (b, bc) }
        if b.isEmpty { return (a, ac) }
        var newKeys: [T] = []
        var newCounts: [UInt64] = []
        newKeys.reserveCapacity(a.count + b.count)
        newCounts.reserveCapacity(a.count + b.count)
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i] < b[j]) {
                newKeys.append(a[i])
                newCounts.append(ac[i])
                i += 1
            } else if i == a.count || b[j] < a[i] {
                newKeys.append(b[j])
                newCounts.append(bc[j])
                j += 1
            } else {
                newKeys.append(a[i])
                newCounts.append(ac[i] + bc[j])
                i += 1
                j += 1
            }
        }
        return (newKeys, newCounts)
    }

    /// Up to `maxBins - 1` strictly increasing bin edges that split the sketched values
    /// into at most `maxBins` bins of roughly equal count. Distinct values (exact mode) or
    /// buckets get their own bin while they fit; a heavy one takes one bin and the
    /// remaining bins are shared out over the remaining values. Edges are midpoints
    /// between distinct values in exact mode, bucket upper bounds otherwise.
    public func binEdges(maxBins: Int) -> [Double] {
        var s = self
        s.compact()
        let n = s.counts.count
        guard n > 1, maxBins > 1 else { return [] }
        let total = Double(s.counts.reduce(0, +))
        var edges: [Double] = []
        var cumulative: UInt64 = 0
        var lastCut: UInt64 = 0
        for i in 0..<(n - 1) {
            cumulative += s.counts[i]
            let remainingBins = maxBins - edges.count
            let keysAfter = n - 1 - i
            let target = (total - Double(lastCut)) / Double(remainingBins)
            if keysAfter < remainingBins || Double(cumulative - lastCut) >= target {
                edges.append(s.isExact ? Self.midpoint(s.values[i], s.values[i + 1]) : Self.upperBound(ofKey: s.keys[i]))
                lastCut = cumulative
                if edges.count == maxBins - 1 { break }
            }
        }
        return edges
    }

    func write(to w: inout ByteWriter) {
        var s = self
        s.compact()
        w.write(UInt8(s.isExact ? 1 : 0))
        if s.isExact { w.write(array: s.values) } else { w.write(array: s.keys) }
        w.write(array: s.counts)
    }

    static func read(from r: inout ByteReader) throws -> QuantileSketch {
        var s = QuantileSketch()
        let mode = try r.read(UInt8.self)
        guard mode <= 1 else { throw ForestError(.corrupted, "\(r.context): quantile sketch mode \(mode)") }
        s.isExact = mode == 1
        if s.isExact {
            s.values = try r.readDoubles()
            guard s.values.count <= exactCapacity, zip(s.values, s.values.dropFirst()).allSatisfy({ $0 < $1 }),
                s.values.allSatisfy({ !$0.isNaN })
            else {
                throw ForestError(.corrupted, "\(r.context): quantile sketch values are not strictly increasing")
            }
        } else {
            s.keys = try r.readArray(Int32.self)
            guard zip(s.keys, s.keys.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw ForestError(.corrupted, "\(r.context): quantile sketch keys are not strictly increasing")
            }
        }
        s.counts = try r.readArray(UInt64.self)
        guard s.counts.count == (s.isExact ? s.values.count : s.keys.count) else {
            throw ForestError(.corrupted, "\(r.context): quantile sketch counts")
        }
        return s
    }

    public static func == (a: QuantileSketch, b: QuantileSketch) -> Bool {
        var x = a
        var y = b
        x.compact()
        y.compact()
        return x.isExact == y.isExact && x.values == y.values && x.keys == y.keys && x.counts == y.counts
    }
}
