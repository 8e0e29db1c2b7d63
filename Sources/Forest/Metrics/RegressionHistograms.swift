import Foundation

/// Mergeable fixed-bin histograms of a regression evaluation, laid out from the
/// training target's range so that every worker scoring with the same model bins
/// alike: predicted versus actual as a ``gridBins`` × ``gridBins`` 2-D histogram over
/// `[lower, upper]`, and the residuals (actual − predicted) over ``residualBins``
/// bins of `[-(upper − lower), upper − lower]`. Values outside a range count in its
/// edge bin (``outside`` counts actual values outside `[lower, upper]`). Counts are
/// integers, so merging is exact in any order.
public struct RegressionHistograms: Sendable, Equatable {
    public static let gridBins = 50
    public static let residualBins = 1024

    /// The grid's range (the training target's minimum and maximum, widened when they are equal).
    public let lower: Double
    public let upper: Double
    /// `grid[predictedBin * gridBins + actualBin]`.
    public private(set) var grid: [UInt64]
    public private(set) var residuals: [UInt64]
    /// Rows whose actual value lies outside `[lower, upper]`.
    public private(set) var outside: UInt64 = 0

    /// Histograms over the range `[lower, upper]`; an empty, inverted or non-finite range is widened to a usable one.
    public init(lower: Double, upper: Double) {
        var lo = lower
        var hi = upper
        if !lo.isFinite || !hi.isFinite || hi < lo {
            lo = 0
            hi = 1
        }
        if hi == lo {
            let pad = Swift.max(lo.magnitude, 1) * 0.5
            lo -= pad
            hi += pad
        }
        self.lower = lo
        self.upper = hi
        grid = Array(repeating: 0, count: Self.gridBins * Self.gridBins)
        residuals = Array(repeating: 0, count: Self.residualBins)
    }

    public var span: Double { upper - lower }

    /// The grid bin of a value (clamped to the edge bins; NaN in bin 0).
    @inline(__always)
    public func gridBin(_ value: Double) -> Int {
        let x = (value - lower) / span * Double(Self.gridBins)
        guard x.isFinite, x > 0 else { return 0 }
        return Swift.min(Int(x), Self.gridBins - 1)
    }

    /// The residual bin of `residual` (clamped to the edge bins).
    @inline(__always)
    public func residualBin(_ residual: Double) -> Int {
        let x = (residual + span) / (2 * span) * Double(Self.residualBins)
        guard x.isFinite, x > 0 else { return 0 }
        return Swift.min(Int(x), Self.residualBins - 1)
    }

    /// The lower edge of residual bin `i` (`i == residualBins` gives the upper edge of the last).
    public func residualEdge(_ i: Int) -> Double { -span + 2 * span * Double(i) / Double(Self.residualBins) }

    /// The lower edge of grid bin `i` (`i == gridBins` gives `upper`).
    public func gridEdge(_ i: Int) -> Double { lower + span * Double(i) / Double(Self.gridBins) }

    @inline(__always)
    public mutating func add(prediction: Double, actual: Double) {
        grid[gridBin(prediction) * Self.gridBins + gridBin(actual)] += 1
        residuals[residualBin(actual - prediction)] += 1
        if actual < lower || actual > upper { outside += 1 }
    }

    /// Rows counted.
    public var rowCount: UInt64 { residuals.reduce(0, +) }

    /// Adds `other`'s counts; nil when the two were laid out over different ranges.
    public func merged(with other: RegressionHistograms) -> RegressionHistograms? {
        guard other.lower == lower, other.upper == upper else { return nil }
        var m = self
        for i in m.grid.indices { m.grid[i] += other.grid[i] }
        for i in m.residuals.indices { m.residuals[i] += other.residuals[i] }
        m.outside += other.outside
        return m
    }

    func write(to w: inout ByteWriter) {
        w.write(lower)
        w.write(upper)
        w.write(outside)
        for h in [grid, residuals] {
            let nz = h.indices.filter { h[$0] != 0 }
            w.write(array: nz.map { UInt32($0) })
            w.write(array: nz.map { h[$0] })
        }
    }

    static func read(from r: inout ByteReader) throws -> RegressionHistograms {
        let lower = try r.readDouble()
        let upper = try r.readDouble()
        guard lower.isFinite, upper.isFinite, upper > lower else {
            throw ForestError(.corrupted, "\(r.context): regression histogram range [\(lower), \(upper)]")
        }
        var h = RegressionHistograms(lower: lower, upper: upper)
        h.outside = try r.read()
        func sparse(_ size: Int) throws -> [UInt64] {
            let idx = try r.readArray(UInt32.self)
            let vals = try r.readArray(UInt64.self)
            guard idx.count == vals.count, idx.allSatisfy({ Int($0) < size }) else {
                throw ForestError(.corrupted, "\(r.context): regression histogram")
            }
            var out = [UInt64](repeating: 0, count: size)
            for (i, v) in zip(idx, vals) { out[Int(i)] = v }
            return out
        }
        h.grid = try sparse(gridBins * gridBins)
        h.residuals = try sparse(residualBins)
        return h
    }
}
