import Locking

#if canImport(Glibc)
    import Glibc
#endif

/// A memory limit and the bytes reserved against it by buffers (spill buffers, sort runs, caches).
///
/// Components reserve before they allocate and release when they free, so a process sizes its
/// buffers from its limit instead of discovering the limit by being killed. Thread-safe.
public final class MemoryBudget: Sendable {
    /// The limit in bytes.
    public let limit: Int
    private struct Usage { var reserved = 0, peak = 0 }
    private let usage = Locked(Usage())

    public init(limit: MemorySize) {
        self.limit = limit.bytes
    }

    public convenience init(limitBytes: Int) { self.init(limit: MemorySize(bytes: limitBytes)) }

    /// Bytes currently reserved.
    public var reserved: Int { usage.withLock { $0.reserved } }
    /// Highest `reserved` seen.
    public var peakReserved: Int { usage.withLock { $0.peak } }
    /// Bytes still available (never negative).
    public var available: Int { usage.withLock { max(0, limit - $0.reserved) } }

    /// Reserves `bytes` if they fit under the limit; returns whether it did.
    public func tryReserve(_ bytes: Int) -> Bool {
        usage.withLock { u in
            guard u.reserved + bytes <= limit else { return false }
            u.reserved += bytes
            u.peak = max(u.peak, u.reserved)
            return true
        }
    }

    /// Reserves `bytes` even past the limit (for memory that must exist, e.g. one record).
    public func forceReserve(_ bytes: Int) {
        usage.withLock { u in
            u.reserved += bytes
            u.peak = max(u.peak, u.reserved)
        }
    }

    /// Returns `bytes` reserved earlier.
    public func release(_ bytes: Int) {
        usage.withLock { $0.reserved = max(0, $0.reserved - bytes) }
    }

    /// A share of the limit, for splitting a budget among components (e.g. 0.5 for sort runs).
    public func share(_ fraction: Double) -> Int { Int(Double(limit) * fraction) }
}
