import Foundation

/// A byte count printed in binary units: `12 B`, `1.5 KiB`, `512 MiB`, `123 MiB` (one
/// decimal below 100 of a unit, none from 100 up); a negative count (a change in memory)
/// prints with its sign. The one byte formatter of every layer's messages.
public struct ByteCount: Sendable, Hashable, CustomStringConvertible {
    /// Magnitude, bytes.
    public var bytes: UInt64
    public var negative = false

    public init(_ bytes: UInt64) { self.bytes = bytes }

    /// A signed count (e.g. a change in peak RSS).
    public init(_ bytes: Int) {
        self.bytes = UInt64(bytes.magnitude)
        negative = bytes < 0
    }

    public var description: String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let sign = negative && bytes > 0 ? "-" : ""
        if unit == 0 { return "\(sign)\(bytes) B" }
        return sign
            + (value >= 100 || value == value.rounded()
                ? "\(Int(value.rounded())) \(units[unit])"
                : String(format: "%.1f %@", value, units[unit]))
    }
}
