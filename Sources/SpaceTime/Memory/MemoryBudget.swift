#if canImport(Glibc)
import Glibc
#endif

/// A memory limit and the bytes reserved against it by buffers (spill buffers, sort runs, caches).
///
/// Components reserve before they allocate and release when they free, so a process sizes its
/// buffers from its limit instead of discovering the limit by being killed. Thread-safe.
public final class MemoryBudget: @unchecked Sendable {
    /// The limit in bytes.
    public let limit: Int
    private var _reserved = 0
    private var _peak = 0
    private let lock = Lock()

    public init(limit: MemorySize) {
        self.limit = limit.bytes
    }

    public convenience init(limitBytes: Int) { self.init(limit: MemorySize(bytes: limitBytes)) }

    /// Bytes currently reserved.
    public var reserved: Int { locked { _reserved } }
    /// Highest `reserved` seen.
    public var peakReserved: Int { locked { _peak } }
    /// Bytes still available (never negative).
    public var available: Int { locked { max(0, limit - _reserved) } }

    /// Reserves `bytes` if they fit under the limit; returns whether it did.
    public func tryReserve(_ bytes: Int) -> Bool {
        locked {
            guard _reserved + bytes <= limit else { return false }
            _reserved += bytes
            _peak = max(_peak, _reserved)
            return true
        }
    }

    /// Reserves `bytes` even past the limit (for memory that must exist, e.g. one record).
    public func forceReserve(_ bytes: Int) {
        locked {
            _reserved += bytes
            _peak = max(_peak, _reserved)
        }
    }

    /// Returns `bytes` reserved earlier.
    public func release(_ bytes: Int) {
        locked { _reserved = max(0, _reserved - bytes) }
    }

    /// A share of the limit, for splitting a budget among components (e.g. 0.5 for sort runs).
    public func share(_ fraction: Double) -> Int { Int(Double(limit) * fraction) }

    private func locked<T>(_ body: () -> T) -> T {
        lock.withLock(body)
    }
}
