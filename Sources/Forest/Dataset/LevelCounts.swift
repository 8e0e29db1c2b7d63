/// Mergeable counts of a categorical column's levels in bounded memory.
///
/// Exact while at most ``overflow`` distinct levels are tracked; beyond that a
/// Misra–Gries summary (Agarwal et al., "Mergeable summaries"): when more than
/// ``overflow`` levels are tracked, the (``capacity``+1)-th largest count is subtracted
/// from every level and levels at or below zero are dropped. Each kept count then
/// underestimates the true one by at most `rows / (capacity + 1)`, and every level
/// with more rows than that is kept. Pruning depends only on the multiset of counts, so
/// the result does not depend on hash-table order; merges are made in partition order.
public struct LevelCounts: Sendable, Equatable {
    /// Levels kept after a prune.
    public static let capacity = 4096
    /// Tracked levels that trigger a prune.
    public static let overflow = 2 * capacity

    /// Count and text per tracked level, keyed by ``LevelHash`` bits.
    private(set) var levels: [UInt64: Level] = [:]
    /// Rows with a missing value.
    public private(set) var missing: UInt64 = 0
    /// Rows with a value (tracked or not).
    public private(set) var present: UInt64 = 0
    /// Whether any prune has dropped counts (the counts are then lower bounds).
    public private(set) var isApproximate = false

    struct Level: Sendable, Equatable {
        var name: String
        var count: UInt64
    }

    public init() {}

    public var trackedCount: Int { levels.count }

    /// Adds one row's level (`hash` = ``LevelHash/of(_:)-(UnsafeRawBufferPointer)`` of `bytes`).
    @inline(__always)
    public mutating func add(hash: Double, bytes: UnsafeRawBufferPointer) {
        present += 1
        let key = UInt64(hash)
        if let i = levels.index(forKey: key) {
            levels.values[i].count += 1
            return
        }
        levels[key] = Level(name: String(decoding: bytes, as: UTF8.self), count: 1)
        if levels.count > Self.overflow { prune() }
    }

    public mutating func add(_ text: String) {
        var t = text
        t.withUTF8 { add(hash: LevelHash.of(UnsafeRawBufferPointer($0)), bytes: UnsafeRawBufferPointer($0)) }
    }

    public mutating func addMissing() { missing += 1 }

    public mutating func merge(_ other: LevelCounts) {
        missing += other.missing
        present += other.present
        isApproximate = isApproximate || other.isApproximate
        for (key, level) in other.levels {
            levels[key, default: Level(name: level.name, count: 0)].count += level.count
        }
        if levels.count > Self.overflow { prune() }
    }

    private mutating func prune() {
        var counts = levels.values.map(\.count)
        counts.sort(by: >)
        let cut = counts[Self.capacity]
        levels = levels.compactMapValues { $0.count > cut ? Level(name: $0.name, count: $0.count - cut) : nil }
        isApproximate = true
    }

    /// Tracked levels by decreasing count, ties by text (the order bins are given in).
    public var ranked: [(name: String, count: UInt64)] {
        levels.values.sorted { $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name }.map { ($0.name, $0.count) }
    }

    /// The count of `text` (0 when not tracked).
    public func count(of text: String) -> UInt64 { levels[UInt64(LevelHash.of(text))]?.count ?? 0 }

    func write(to w: inout ByteWriter) {
        w.write(missing)
        w.write(present)
        w.write(isApproximate)
        let keys = levels.keys.sorted()
        w.write(UInt32(keys.count))
        for k in keys {
            w.write(levels[k]!.name)
            w.write(levels[k]!.count)
        }
    }

    static func read(from r: inout ByteReader) throws -> LevelCounts {
        var c = LevelCounts()
        c.missing = try r.read()
        c.present = try r.read()
        c.isApproximate = try r.readBool()
        let n = Int(try r.read(UInt32.self))
        guard n <= overflow, n <= r.remaining else { throw ForestError(.corrupted, "\(r.context): too many levels (\(n))") }
        for _ in 0..<n {
            let name = try r.readString()
            c.levels[UInt64(LevelHash.of(name))] = Level(name: name, count: try r.read())
        }
        return c
    }
}
