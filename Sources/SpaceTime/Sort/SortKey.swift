/// Order-preserving byte encodings: `memcmp` order of the encoded bytes equals the values' order.
/// External sort compares keys bytewise, so any key that has such an encoding can be sorted.
public enum SortKey {
    /// 8 big-endian bytes; `-inf < … < -0.0 == 0.0 < … < +inf < NaN` (missing values sort last).
    @inlinable
    public static func double(_ d: Double) -> UInt64 {
        if d.isNaN { return .max }
        let bits = (d == 0 ? 0.0 : d).bitPattern
        let ordered = bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
        return ordered.bigEndian
    }

    /// 8 big-endian bytes for a signed integer.
    @inlinable
    public static func int64(_ v: Int64) -> UInt64 {
        (UInt64(bitPattern: v) ^ (1 << 63)).bigEndian
    }

    /// 8 big-endian bytes for an unsigned integer.
    @inlinable
    public static func uint64(_ v: UInt64) -> UInt64 { v.bigEndian }
}

/// A fixed-width value that external sort can order by an 8-byte key.
public protocol ExternalSortable: BitwiseCopyable {
    /// The key in `SortKey` encoding (big-endian, memcmp-ordered) as stored in memory.
    var sortKey: UInt64 { get }
}

extension Int: ExternalSortable { public var sortKey: UInt64 { SortKey.int64(Int64(self)) } }
extension Int64: ExternalSortable { public var sortKey: UInt64 { SortKey.int64(self) } }
extension Int32: ExternalSortable { public var sortKey: UInt64 { SortKey.int64(Int64(self)) } }
extension UInt64: ExternalSortable { public var sortKey: UInt64 { SortKey.uint64(self) } }
extension UInt32: ExternalSortable { public var sortKey: UInt64 { SortKey.uint64(UInt64(self)) } }
extension Double: ExternalSortable { public var sortKey: UInt64 { SortKey.double(self) } }
extension Float: ExternalSortable { public var sortKey: UInt64 { SortKey.double(Double(self)) } }
